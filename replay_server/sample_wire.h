// SampleResponseWriter: the wire form of a sac.v1.SampleResponse written
// straight from a sample's columns, without building the message: the service
// answers Sample with these bytes (a raw gRPC method), saving the message's
// allocations, the zero-fill of its strings and protobuf's size pass. The bytes
// are what protobuf's own serialization of the same message gives (fields in
// number order, repeated scalars packed, proto3 defaults left out), which
// sample_wire_test checks byte for byte, so every client parses them as usual.
#ifndef SAC_REPLAY_SERVER_SAMPLE_WIRE_H_
#define SAC_REPLAY_SERVER_SAMPLE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "replay_server/rows.h"
#include "replay_server/table.h"

namespace sac::replay {

class SampleResponseWriter {
 public:
  // Sizes the columns for `rows` rows of `spec`. Reusing a writer for the same
  // sizes allocates nothing.
  void Reset(const TableSpec& spec, int64_t rows);
  // Where the sample writes its rows (valid until the next Reset).
  const SampleColumns& columns() const { return columns_; }
  // Bytes of the encoded response, given the table size it reports.
  size_t EncodedSize(uint64_t table_size) const;
  // Writes exactly EncodedSize(table_size) bytes to `out`.
  void Encode(uint64_t table_size, uint8_t* out) const;

 private:
  // Bytes of the response's TransitionBatch (field 1) after its length.
  size_t BatchPayload() const;

  TableSpec spec_;
  int64_t rows_ = 0;
  std::vector<float> obs_, action_, reward_, next_obs_, probability_;
  std::vector<uint8_t> terminated_, truncated_;
  std::vector<uint64_t> policy_version_, key_;
  std::vector<uint32_t> actor_id_;
  SampleColumns columns_;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_SAMPLE_WIRE_H_
