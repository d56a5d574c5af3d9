// A validated batch of transitions as raw column pointers: what the table
// stores and the write-ahead log records. `ValidateBatch` turns a wire
// TransitionBatch into one (checked by the one decoder, common/transition_batch.h,
// against the table's spec); the log's reader builds one over a record's bytes. Spans point into
// storage owned by someone else (the request message, a log record); a RowsRef must not outlive it.
#ifndef SAC_REPLAY_SERVER_ROWS_H_
#define SAC_REPLAY_SERVER_ROWS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/transition_batch.h"
#include "sac/v1/transition.pb.h"

namespace sac::replay {

// Sizes of one row; the shard's schema.
struct TableSpec {
  int64_t obs_dim = 0;
  int64_t act_dim = 0;
  // Bytes one row takes in the table (all columns plus its key).
  int64_t row_bytes() const {
    return static_cast<int64_t>(sizeof(float)) * (2 * obs_dim + act_dim + 1) + 2 +
           static_cast<int64_t>(sizeof(uint64_t) + sizeof(uint32_t) + sizeof(uint64_t));
  }
  // Bytes of the columns of one row without its key (the log's record size per row).
  int64_t payload_row_bytes() const { return row_bytes() - sizeof(uint64_t); }
};

struct RowsRef {
  int64_t rows = 0;
  const float* obs = nullptr;                // [rows, obs_dim]
  const float* action = nullptr;             // [rows, act_dim]
  const float* reward = nullptr;             // [rows]
  const float* next_obs = nullptr;           // [rows, obs_dim]
  const uint8_t* terminated = nullptr;       // [rows], each 0 or 1
  const uint8_t* truncated = nullptr;        // [rows], each 0 or 1
  const uint64_t* policy_version = nullptr;  // [rows]
  const uint32_t* actor_id = nullptr;        // [rows]
};

// A RowsRef over a request, with the decoded view it points into. Move-only.
struct ValidatedBatch {
  TransitionBatchView view;
  RowsRef rows;
};

// Checks `batch` against `spec` with TransitionBatchView::Decode: shapes
// ([B, obs_dim], [B, act_dim], [B], [B, obs_dim]), finite floats, flag bytes
// 0/1, B policy versions and actor ids, 1 <= B <= max_rows. INVALID_ARGUMENT
// naming the field ("batch.obs: ..."), or RESOURCE_EXHAUSTED when B exceeds
// max_rows. The result points into `batch`.
absl::StatusOr<ValidatedBatch> ValidateBatch(const v1::TransitionBatch& batch,
                                             const TableSpec& spec, int64_t max_rows);

// The log's record body for `rows` (first_key written as given; see wal.h for the
// framing): [u64 first_key][u64 rows][u64 policy_version x B][f32 obs][f32 action]
// [f32 reward][f32 next_obs][u32 actor_id x B][u8 terminated x B][u8 truncated x B].
std::string EncodeRecord(uint64_t first_key, const RowsRef& rows, const TableSpec& spec);
// Overwrites the first_key field of an encoded record.
void SetRecordKey(uint64_t first_key, std::string* record);
// Parses a record body made by EncodeRecord; the RowsRef points into `record`,
// whose data must be 8-byte aligned (std::string's heap buffer is). Checks sizes
// and flag bytes (DATA_LOSS on mismatch).
absl::StatusOr<RowsRef> DecodeRecord(const std::string& record, const TableSpec& spec,
                                     uint64_t* first_key);

}  // namespace sac::replay

#endif  // SAC_REPLAY_SERVER_ROWS_H_
