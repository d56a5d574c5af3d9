#include "learner/policy_service.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/raw_rpc.h"
#include "common/security.h"
#include "policy/policy_metadata.h"
#include "policy/safetensors.h"

namespace sac::learner {

// One WatchPolicy stream. Lives until OnDone; PolicyStore calls Notify (under
// the store's mutex, so the watcher cannot be deleted meanwhile).
class PolicyWatcher : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // `budget` (may be null) bounds the bytes of this stream's write in flight,
  // counted against `client`.
  PolicyWatcher(PolicyStore* store, uint64_t after_version, ResponseBudget* budget,
                std::string client)
      : store_(store), budget_(budget), client_(std::move(client)), sent_version_(after_version) {
    if (!store_->AddWatcher(this)) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "learner is shutting down"));
      return;
    }
    WriteLatest();
  }

  // A new version was published (called with the store's mutex held).
  void Notify(uint64_t version, const grpc::ByteBuffer& bytes) { MaybeWrite(version, bytes); }
  // The store is shutting down: end the stream once no write is in flight.
  void End() {
    absl::MutexLock lock(&mu_);
    ending_ = true;
    FinishIfIdleLocked();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      reservation_.reset();     // the write was taken: its bytes are free
      if (!ok) ending_ = true;  // the client went away
      if (ending_) {
        FinishIfIdleLocked();
        return;
      }
    }
    WriteLatest();
  }
  void OnCancel() override { End(); }
  void OnDone() override {
    store_->RemoveWatcher(this);
    delete this;
  }

 private:
  void WriteLatest() {
    uint64_t version = 0;
    grpc::ByteBuffer bytes;
    if (store_->LatestBytes(&version, &bytes)) MaybeWrite(version, bytes);
  }
  void MaybeWrite(uint64_t version, const grpc::ByteBuffer& bytes) {
    absl::MutexLock lock(&mu_);
    if (writing_ || ending_ || version <= sent_version_) return;
    if (budget_ != nullptr) {
      auto reserved = budget_->Reserve(client_, static_cast<int64_t>(bytes.Length()));
      if (!reserved.ok()) {
        // This client has too many answers unread: the stream ends (the
        // watcher reconnects with backoff) instead of the memory growing.
        ending_ = true;
        finished_ = true;
        Finish(ToGrpcStatus(reserved.status()));
        return;
      }
      reservation_ = std::move(*reserved);
    }
    in_flight_ = bytes;  // shares the store's bytes; alive during the write
    sent_version_ = version;
    writing_ = true;
    StartWrite(&in_flight_);
  }
  void FinishIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  PolicyStore* const store_;
  ResponseBudget* const budget_;
  const std::string client_;
  absl::Mutex mu_;
  uint64_t sent_version_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ByteBuffer in_flight_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ResponseBudget::Reservation> reservation_ ABSL_GUARDED_BY(mu_);  // in_flight_'s
};

PolicyStore::PolicyStore(std::string snapshot_dir, MetricsRegistry* metrics)
    : snapshot_dir_(std::move(snapshot_dir)),
      version_gauge_(
          metrics->AddGauge("sac_learner_policy_version", "Newest published policy version")
              ->Get()),
      published_(
          metrics->AddCounter("sac_learner_published_versions_total", "Policy versions published")
              ->Get()),
      watchers_gauge_(
          metrics->AddGauge("sac_learner_policy_watchers", "Open WatchPolicy streams")->Get()) {}

PolicyStore::~PolicyStore() { Shutdown(); }

absl::Status PolicyStore::Publish(std::shared_ptr<const v1::Policy> policy) {
  absl::MutexLock lock(&mu_);
  const uint64_t version = policy->metadata().version();
  if (latest_ && version <= latest_->metadata().version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "policy version ", version, " is not newer than ", latest_->metadata().version()));
  }
  latest_ = std::move(policy);
  latest_bytes_ = SerializeMessage(*latest_);
  version_gauge_->Set(static_cast<double>(version));
  published_->Increment();
  for (PolicyWatcher* w : watchers_) w->Notify(version, latest_bytes_);
  return absl::OkStatus();
}

std::shared_ptr<const v1::Policy> PolicyStore::Latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

bool PolicyStore::LatestBytes(uint64_t* version, grpc::ByteBuffer* bytes) const {
  absl::MutexLock lock(&mu_);
  if (!latest_) return false;
  *version = latest_->metadata().version();
  *bytes = latest_bytes_;
  return true;
}

uint64_t PolicyStore::latest_version() const {
  absl::MutexLock lock(&mu_);
  return latest_ ? latest_->metadata().version() : 0;
}

void PolicyStore::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  for (PolicyWatcher* w : watchers_) w->End();
}

bool PolicyStore::AddWatcher(PolicyWatcher* w) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return false;
  watchers_.insert(w);
  watchers_gauge_->Set(static_cast<double>(watchers_.size()));
  return true;
}

void PolicyStore::RemoveWatcher(PolicyWatcher* w) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(w);
  watchers_gauge_->Set(static_cast<double>(watchers_.size()));
}

std::string PolicyStore::SnapshotFileName(uint64_t version) {
  char name[64];
  std::snprintf(name, sizeof(name), "policy-%012llu.safetensors",
                static_cast<unsigned long long>(version));
  return name;
}

std::vector<v1::SnapshotInfo> PolicyStore::ListSnapshots() const {
  std::vector<v1::SnapshotInfo> out;
  DIR* dir = opendir(snapshot_dir_.c_str());
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    uint64_t version = 0;
    char tail[32] = {0};
    if (std::sscanf(e->d_name, "policy-%12" SCNu64 ".%20s", &version, tail) != 2 ||
        std::string(tail) != "safetensors" || SnapshotFileName(version) != e->d_name) {
      continue;
    }
    struct stat st;
    const std::string path = snapshot_dir_ + "/" + e->d_name;
    if (stat(path.c_str(), &st) != 0) continue;
    v1::SnapshotInfo info;
    info.set_version(version);
    info.set_file_name(e->d_name);
    info.set_size_bytes(static_cast<uint64_t>(st.st_size));
    out.push_back(info);
  }
  closedir(dir);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.version() < b.version(); });
  return out;
}

void PolicyStore::PruneSnapshots(size_t keep, std::span<const uint64_t> pinned) const {
  auto all = ListSnapshots();
  for (size_t i = 0; i + keep < all.size(); ++i) {
    if (std::find(pinned.begin(), pinned.end(), all[i].version()) != pinned.end()) continue;
    std::remove((snapshot_dir_ + "/" + all[i].file_name()).c_str());
  }
}

grpc::ServerUnaryReactor* PolicyServiceImpl::GetLatestPolicy(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  // Answered from the published bytes (no copy of the weights), after the
  // same checks as ServeUnary's.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetLatestPolicyRequest parsed;
  grpc::Status status = AcceptRequest(*context, token_, *request, &parsed);
  uint64_t version = 0;
  grpc::ByteBuffer latest;
  if (status.ok() && !store_->LatestBytes(&version, &latest)) {
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "no policy published yet (the learner waits for the replay "
                          "shards to hold the minimum to sample)");
  }
  if (status.ok() && budget_ == nullptr) {
    *response = latest;
  } else if (status.ok()) {
    // A copy in reserved memory: a client that does not read its answers
    // cannot keep old versions alive without bound.
    std::vector<grpc::Slice> slices;
    (void)latest.Dump(&slices);
    absl::StatusOr<grpc::ByteBuffer> copy =
        budget_->Build(context->peer(), latest.Length(), [&slices](uint8_t* out) {
          for (const grpc::Slice& s : slices) out = std::copy(s.begin(), s.end(), out);
        });
    if (copy.ok()) {
      *response = *copy;  // grpc::ByteBuffer copies by reference count
    } else {
      status = ToGrpcStatus(copy.status());
    }
  }
  reactor->Finish(status);
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* PolicyServiceImpl::WatchPolicy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes) {
  v1::WatchPolicyRequest request;
  grpc::Status accepted = AcceptRequest(*context, token_, *request_bytes, &request);
  if (!accepted.ok()) return new RefusedWriteReactor(accepted);
  return new PolicyWatcher(store_, request.after_version(), budget_, context->peer());
}

grpc::ServerUnaryReactor* PolicyServiceImpl::ListSnapshots(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  return ServeUnary<v1::ListSnapshotsRequest, v1::ListSnapshotsResponse>(
      context, token_, request, response,
      [this](const v1::ListSnapshotsRequest&, v1::ListSnapshotsResponse* out) {
        for (auto& info : store_->ListSnapshots()) {
          // The counts from the file's header, as GetSnapshot gives them. A
          // file whose header does not read stays listed with zeros (GetSnapshot
          // of it says what is wrong).
          auto strings = ReadSafetensorsMetadata(store_->snapshot_dir() + "/" + info.file_name());
          auto metadata = strings.ok() ? PolicyMetadataFromStrings(*strings) : strings.status();
          if (metadata.ok()) {
            info.set_env_steps(metadata->env_steps());
            info.set_updates(metadata->updates());
          }
          *out->add_snapshots() = std::move(info);
        }
        return grpc::Status::OK;
      });
}

grpc::ServerUnaryReactor* PolicyServiceImpl::GetSnapshot(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* request,
                                                         grpc::ByteBuffer* response) {
  return ServeUnary<v1::GetSnapshotRequest, v1::Snapshot>(
      context, token_, request, response,
      [this](const v1::GetSnapshotRequest& r, v1::Snapshot* out) { return ServeSnapshot(r, out); },
      budget_);
}

grpc::Status PolicyServiceImpl::ServeSnapshot(const v1::GetSnapshotRequest& request,
                                              v1::Snapshot* response) const {
  const auto all = store_->ListSnapshots();
  const v1::SnapshotInfo* found = nullptr;
  for (const auto& info : all) {
    if (request.version() == 0 || info.version() == request.version()) found = &info;
  }
  if (found == nullptr) {
    std::vector<std::string> versions;
    versions.reserve(all.size());
    for (const auto& info : all) versions.push_back(std::to_string(info.version()));
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        request.version() == 0
            ? std::string("no snapshot written yet")
            : absl::StrCat("no snapshot of version ", request.version(), " (on disk: ",
                           versions.empty() ? "none" : absl::StrJoin(versions, ", "), ")"));
  }
  absl::StatusOr<std::string> bytes =
      ReadWholeFile(store_->snapshot_dir() + "/" + found->file_name());
  absl::StatusOr<SafetensorsFile> parsed =
      bytes.ok() ? ParseSafetensors(*bytes) : absl::StatusOr<SafetensorsFile>(bytes.status());
  absl::StatusOr<v1::PolicyMetadata> metadata =
      parsed.ok() ? PolicyMetadataFromStrings(parsed->metadata) : parsed.status();
  if (!metadata.ok()) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        absl::StrCat("snapshot ", found->file_name(),
                                     " is unreadable: ", metadata.status().message()));
  }
  *response->mutable_info() = *found;
  response->mutable_info()->set_env_steps(metadata->env_steps());
  response->mutable_info()->set_updates(metadata->updates());
  *response->mutable_metadata() = *metadata;
  response->set_safetensors(*std::move(bytes));
  return grpc::Status::OK;
}

}  // namespace sac::learner
