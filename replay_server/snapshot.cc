#include "replay_server/snapshot.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/crc32c.h"
#include "common/status.h"

namespace sac::replay {
namespace {

constexpr char kMagic[] = "SACSNAP1";
constexpr char kEndMagic[] = "SNAPEND1";

template <typename T>
absl::string_view Bytes(const std::vector<T>& v) {
  return absl::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

std::string SnapshotFileName(uint64_t wal_segment) {
  return absl::StrFormat("snapshot-%020d.snap", wal_segment);
}

int64_t ParseSnapshotFileName(absl::string_view name) {
  if (name.size() != 34 || name.substr(0, 9) != "snapshot-" || name.substr(29) != ".snap") {
    return -1;
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(name.substr(9, 20), &n)) return -1;
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::string> WriteSnapshot(FileSystem* fs, const std::string& dir,
                                          const TableContents& c, uint64_t wal_segment) {
  const std::string path = absl::StrCat(dir, "/", SnapshotFileName(wal_segment));
  const std::string tmp = path + ".tmp";
  v1::ReplaySnapshotHeader header;
  header.set_obs_dim(static_cast<uint32_t>(c.spec.obs_dim));
  header.set_act_dim(static_cast<uint32_t>(c.spec.act_dim));
  header.set_capacity(static_cast<uint64_t>(c.capacity));
  header.set_size(static_cast<uint64_t>(c.size));
  header.set_head(static_cast<uint64_t>(c.head));
  header.set_next_key(c.next_key);
  header.set_inserts_total(c.inserts_total);
  header.set_samples_total(c.samples_total);
  header.set_wal_segment(wal_segment);
  header.set_created_unix_micros(absl::ToUnixMicros(absl::Now()));
  const absl::string_view columns[] = {
      Bytes(c.obs),        Bytes(c.action),    Bytes(c.reward),         Bytes(c.next_obs),
      Bytes(c.terminated), Bytes(c.truncated), Bytes(c.policy_version), Bytes(c.actor_id),
      Bytes(c.key)};
  uint64_t payload = 0;
  for (absl::string_view col : columns) payload += col.size();
  header.set_payload_bytes(payload);
  const std::string header_bytes = header.SerializeAsString();
  const uint32_t header_len = static_cast<uint32_t>(header_bytes.size());

  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> f, fs->NewWritableFile(tmp));
  RETURN_IF_ERROR(f->Append(absl::string_view(kMagic, 8)));
  const absl::string_view len_bytes(reinterpret_cast<const char*>(&header_len), 4);
  uint32_t crc = Crc32c(0, len_bytes.data(), 4);
  crc = Crc32c(crc, header_bytes.data(), header_bytes.size());
  RETURN_IF_ERROR(f->Append(len_bytes));
  RETURN_IF_ERROR(f->Append(header_bytes));
  for (absl::string_view col : columns) {
    crc = Crc32c(crc, col.data(), col.size());
    RETURN_IF_ERROR(f->Append(col));
  }
  RETURN_IF_ERROR(f->Append(absl::string_view(reinterpret_cast<const char*>(&crc), 4)));
  RETURN_IF_ERROR(f->Append(absl::string_view(kEndMagic, 8)));
  RETURN_IF_ERROR(f->Sync());
  RETURN_IF_ERROR(f->Close());
  RETURN_IF_ERROR(fs->Rename(tmp, path));
  RETURN_IF_ERROR(fs->SyncDir(dir));
  return path;
}

absl::StatusOr<TableContents> ReadSnapshot(FileSystem* fs, const std::string& path,
                                           uint64_t* wal_segment) {
  ASSIGN_OR_RETURN(std::string data, fs->ReadFile(path));
  auto loss = [&path](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("snapshot ", path, ": ", what));
  };
  if (data.size() < 24 || std::memcmp(data.data(), kMagic, 8) != 0) return loss("bad magic");
  if (std::memcmp(data.data() + data.size() - 8, kEndMagic, 8) != 0) return loss("truncated");
  uint32_t header_len = 0;
  std::memcpy(&header_len, data.data() + 8, 4);
  if (static_cast<uint64_t>(header_len) + 24 > data.size()) return loss("bad header length");
  const size_t body_end = data.size() - 12;
  uint32_t stored_crc = 0;
  std::memcpy(&stored_crc, data.data() + body_end, 4);
  if (Crc32c(0, data.data() + 8, body_end - 8) != stored_crc) return loss("checksum mismatch");
  v1::ReplaySnapshotHeader header;
  if (!header.ParseFromArray(data.data() + 12, static_cast<int>(header_len))) {
    return loss("unparsable header");
  }
  TableContents c;
  c.spec.obs_dim = header.obs_dim();
  c.spec.act_dim = header.act_dim();
  c.capacity = static_cast<int64_t>(header.capacity());
  c.size = static_cast<int64_t>(header.size());
  c.head = static_cast<int64_t>(header.head());
  c.next_key = header.next_key();
  c.inserts_total = header.inserts_total();
  c.samples_total = header.samples_total();
  const size_t n = static_cast<size_t>(c.size);
  const size_t od = static_cast<size_t>(c.spec.obs_dim), ad = static_cast<size_t>(c.spec.act_dim);
  const size_t row_bytes = 4 * (2 * od + ad + 1) + 2 + 8 + 4 + 8;
  // The row count is bounded by the bytes present first, so that size x row
  // bytes cannot wrap around to the real payload size.
  if (n > (body_end - 12 - header_len) / row_bytes) {
    return loss("payload size does not match the header");
  }
  const size_t want = n * row_bytes;
  if (header.payload_bytes() != want || 12 + header_len + want != body_end) {
    return loss("payload size does not match the header");
  }
  const char* p = data.data() + 12 + header_len;
  auto take = [&p](auto* v, size_t count) {
    v->resize(count);
    if (count == 0) return;  // an empty vector's data() may be null
    std::memcpy(v->data(), p, count * sizeof((*v)[0]));
    p += count * sizeof((*v)[0]);
  };
  take(&c.obs, n * od);
  take(&c.action, n * ad);
  take(&c.reward, n);
  take(&c.next_obs, n * od);
  take(&c.terminated, n);
  take(&c.truncated, n);
  take(&c.policy_version, n);
  take(&c.actor_id, n);
  take(&c.key, n);
  *wal_segment = header.wal_segment();
  return c;
}

}  // namespace sac::replay
