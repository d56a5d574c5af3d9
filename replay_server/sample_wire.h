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
  // At least the bytes Measure() can return for `rows` rows of `spec`,
  // whatever their values (every varint at its widest): what a response
  // reserves before it is drawn.
  static size_t MaxBytes(const TableSpec& spec, int64_t rows);

  // Sizes the columns for `rows` rows of `spec`. Reusing a writer for the same
  // sizes allocates nothing.
  void Reset(const TableSpec& spec, int64_t rows);
  // Where the sample writes its rows (valid until the next Reset).
  const SampleColumns& columns() const { return columns_; }
  // Once the columns are filled: the bytes of the encoded response, given the
  // table size it reports. Sizes every varint list once, for Encode.
  size_t Measure(uint64_t table_size);
  // Writes exactly the bytes Measure() counted to `out` (Measure first).
  void Encode(uint8_t* out) const;

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
  // Set by Measure: the table size, and the payload bytes of the packed lists.
  uint64_t table_size_ = 0;
  size_t policy_version_bytes_ = 0, actor_id_bytes_ = 0, key_bytes_ = 0;
};

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_SAMPLE_WIRE_H_
