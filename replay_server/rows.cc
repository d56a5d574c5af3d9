#include "replay_server/rows.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sac::replay {

absl::StatusOr<ValidatedBatch> ValidateBatch(const v1::TransitionBatch& batch,
                                             const TableSpec& spec, int64_t max_rows) {
  ASSIGN_OR_RETURN(TransitionBatchView view,
                   TransitionBatchView::Decode(batch, spec.obs_dim, spec.act_dim, max_rows));
  RowsRef rows{view.rows(),     view.obs(),        view.action(),    view.reward(),
               view.next_obs(), view.terminated(), view.truncated(), view.policy_version(),
               view.actor_id()};
  return ValidatedBatch{std::move(view), rows};
}

namespace {

size_t RecordBytes(int64_t b, const TableSpec& spec) {
  return 16 + static_cast<size_t>(b) * static_cast<size_t>(spec.payload_row_bytes());
}

}  // namespace

std::string EncodeRecord(uint64_t first_key, const RowsRef& r, const TableSpec& spec) {
  const size_t b = static_cast<size_t>(r.rows);
  std::string out(RecordBytes(r.rows, spec), '\0');
  char* p = out.data();
  auto put = [&p](const void* src, size_t n) {
    if (n) std::memcpy(p, src, n);
    p += n;
  };
  const uint64_t rows = b;
  put(&first_key, 8);
  put(&rows, 8);
  put(r.policy_version, 8 * b);
  put(r.obs, 4 * b * spec.obs_dim);
  put(r.action, 4 * b * spec.act_dim);
  put(r.reward, 4 * b);
  put(r.next_obs, 4 * b * spec.obs_dim);
  put(r.actor_id, 4 * b);
  put(r.terminated, b);
  put(r.truncated, b);
  return out;
}

void SetRecordKey(uint64_t first_key, std::string* record) {
  std::memcpy(record->data(), &first_key, 8);
}

absl::StatusOr<RowsRef> DecodeRecord(const std::string& record, const TableSpec& spec,
                                     uint64_t* first_key) {
  if (record.size() < 16) return absl::DataLossError("log record: shorter than its header");
  uint64_t rows = 0;
  std::memcpy(first_key, record.data(), 8);
  std::memcpy(&rows, record.data() + 8, 8);
  if (rows == 0 || rows > (1u << 30) ||
      record.size() != RecordBytes(static_cast<int64_t>(rows), spec)) {
    return absl::DataLossError(absl::StrCat("log record: ", record.size(), " bytes for ", rows,
                                            " rows of this table's spec"));
  }
  const size_t b = rows;
  const char* p = record.data() + 16;
  RowsRef r;
  r.rows = static_cast<int64_t>(b);
  r.policy_version = reinterpret_cast<const uint64_t*>(p);
  p += 8 * b;
  r.obs = reinterpret_cast<const float*>(p);
  p += 4 * b * spec.obs_dim;
  r.action = reinterpret_cast<const float*>(p);
  p += 4 * b * spec.act_dim;
  r.reward = reinterpret_cast<const float*>(p);
  p += 4 * b;
  r.next_obs = reinterpret_cast<const float*>(p);
  p += 4 * b * spec.obs_dim;
  r.actor_id = reinterpret_cast<const uint32_t*>(p);
  p += 4 * b;
  r.terminated = reinterpret_cast<const uint8_t*>(p);
  p += b;
  r.truncated = reinterpret_cast<const uint8_t*>(p);
  for (size_t i = 0; i < b; ++i) {
    if (r.terminated[i] > 1 || r.truncated[i] > 1) {
      return absl::DataLossError("log record: flag byte not 0 or 1");
    }
  }
  return r;
}

}  // namespace sac::replay
