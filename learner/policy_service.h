// The learner's PolicyService: numbered policy versions for actors and users,
// and the snapshot files on disk.
//
// PolicyStore holds the newest published policy and the watchers of the
// WatchPolicy stream. Publishing never blocks on a watcher: each watcher sends
// the newest version whenever its previous write completes, so a slow watcher
// skips versions instead of queueing them. Snapshots are the files
// `<snapshot_dir>/policy-<version, 12 digits>.safetensors`.
//
// Thread-safety: PolicyStore is thread-safe. The service follows the gRPC
// callback API: no handler blocks. Its methods are raw (common/raw_rpc.h): a
// request that does not parse gets INVALID_ARGUMENT naming its type, and every
// watcher writes the one serialized copy of a version that Publish made.
#ifndef SAC_LEARNER_POLICY_SERVICE_H_
#define SAC_LEARNER_POLICY_SERVICE_H_

#include <memory>
#include <set>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "common/response_budget.h"
#include "grpcpp/support/byte_buffer.h"
#include "sac/v1/policy.grpc.pb.h"

namespace sac::learner {

class PolicyWatcher;

class PolicyStore {
 public:
  PolicyStore(std::string snapshot_dir, MetricsRegistry* metrics);
  ~PolicyStore();

  // Makes `policy` the newest and wakes every watcher. Its version must be
  // greater than the current one (else FAILED_PRECONDITION, nothing changes).
  absl::Status Publish(std::shared_ptr<const v1::Policy> policy) ABSL_LOCKS_EXCLUDED(mu_);
  // Null until the first Publish.
  std::shared_ptr<const v1::Policy> Latest() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t latest_version() const ABSL_LOCKS_EXCLUDED(mu_);
  // The newest policy in wire form (shares its bytes) and its version; false
  // until the first Publish.
  bool LatestBytes(uint64_t* version, grpc::ByteBuffer* bytes) const ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every watch stream (OK) and refuses new ones; call before the gRPC
  // server shuts down.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string& snapshot_dir() const { return snapshot_dir_; }
  static std::string SnapshotFileName(uint64_t version);
  // Snapshots present on disk, oldest first: version, file name and size
  // (env_steps and updates are in the files' headers; the RPCs read them).
  std::vector<v1::SnapshotInfo> ListSnapshots() const;
  // Removes the oldest snapshot files beyond the newest `keep`, except those of
  // the `pinned` versions (the evaluated ones, which users pull by version).
  void PruneSnapshots(size_t keep, std::span<const uint64_t> pinned = {}) const;

 private:
  friend class PolicyWatcher;
  // False when shut down (the watcher must finish itself).
  bool AddWatcher(PolicyWatcher* w) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveWatcher(PolicyWatcher* w) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string snapshot_dir_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const v1::Policy> latest_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer latest_bytes_ ABSL_GUARDED_BY(mu_);  // latest_ serialized
  std::set<PolicyWatcher*> watchers_ ABSL_GUARDED_BY(mu_);
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  Gauge* version_gauge_;
  Counter* published_;
  Gauge* watchers_gauge_;
};

class PolicyServiceImpl final : public v1::PolicyService::WithRawCallbackMethod_GetLatestPolicy<
                                    v1::PolicyService::WithRawCallbackMethod_WatchPolicy<
                                        v1::PolicyService::WithRawCallbackMethod_ListSnapshots<
                                            v1::PolicyService::WithRawCallbackMethod_GetSnapshot<
                                                v1::PolicyService::Service>>>> {
 public:
  // `store` (and `budget`, when given) must outlive the service; `token`:
  // required bearer token, or empty. `budget` bounds the memory of answers
  // not yet read (policies, snapshots, watch streams' writes; null: unbounded).
  PolicyServiceImpl(PolicyStore* store, std::string token, ResponseBudget* budget = nullptr)
      : store_(store), token_(std::move(token)), budget_(budget) {}

  grpc::ServerUnaryReactor* GetLatestPolicy(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchPolicy(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ListSnapshots(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSnapshot(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

 private:
  grpc::Status ServeSnapshot(const v1::GetSnapshotRequest& request, v1::Snapshot* response) const;

  PolicyStore* store_;
  std::string token_;
  ResponseBudget* budget_;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_POLICY_SERVICE_H_
