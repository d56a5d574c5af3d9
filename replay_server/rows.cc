#include "replay_server/rows.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace sac::replay {

absl::StatusOr<ValidatedBatch> ValidateBatch(const v1::TransitionBatch& batch,
                                             const TableSpec& spec, int64_t max_rows) {
  ValidatedBatch out;
  if (batch.obs().shape_size() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch.obs: shape ", ShapeToString({batch.obs().shape().data(),
                                            static_cast<size_t>(batch.obs().shape_size())}),
        ", expected [B, ", spec.obs_dim, "]"));
  }
  const int64_t b = batch.obs().shape(0);
  if (b < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch.obs: ", b, " rows, expected at least 1"));
  }
  if (b > max_rows) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch.obs: ", b, " rows exceed the limit of ", max_rows, " per batch"));
  }
  {
    const int64_t shape[] = {b, spec.obs_dim};
    auto v = DecodeTensor(batch.obs(), "batch.obs", shape);
    if (!v.ok()) return v.status();
    out.obs = std::move(*v);
  }
  {
    const int64_t shape[] = {b, spec.act_dim};
    auto v = DecodeTensor(batch.action(), "batch.action", shape);
    if (!v.ok()) return v.status();
    out.action = std::move(*v);
  }
  {
    const int64_t shape[] = {b};
    auto v = DecodeTensor(batch.reward(), "batch.reward", shape);
    if (!v.ok()) return v.status();
    out.reward = std::move(*v);
  }
  {
    const int64_t shape[] = {b, spec.obs_dim};
    auto v = DecodeTensor(batch.next_obs(), "batch.next_obs", shape);
    if (!v.ok()) return v.status();
    out.next_obs = std::move(*v);
  }
  absl::Status s = CheckFlagColumn(batch.terminated(), b, "batch.terminated");
  if (!s.ok()) return s;
  s = CheckFlagColumn(batch.truncated(), b, "batch.truncated");
  if (!s.ok()) return s;
  if (batch.policy_version_size() != b) {
    return absl::InvalidArgumentError(absl::StrCat("batch.policy_version: ",
                                                   batch.policy_version_size(),
                                                   " values, expected one per row (", b, ")"));
  }
  if (batch.actor_id_size() != b) {
    return absl::InvalidArgumentError(absl::StrCat("batch.actor_id: ", batch.actor_id_size(),
                                                   " values, expected one per row (", b, ")"));
  }
  out.rows.rows = b;
  out.rows.obs = out.obs.values().data();
  out.rows.action = out.action.values().data();
  out.rows.reward = out.reward.values().data();
  out.rows.next_obs = out.next_obs.values().data();
  out.rows.terminated = reinterpret_cast<const uint8_t*>(batch.terminated().data());
  out.rows.truncated = reinterpret_cast<const uint8_t*>(batch.truncated().data());
  out.rows.policy_version = batch.policy_version().data();
  out.rows.actor_id = batch.actor_id().data();
  return out;
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
