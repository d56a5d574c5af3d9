// A fixed set of worker threads that run one parallel-for at a time: EnvBatch
// uses it to step slices of its environments on several cores. The calling
// thread runs part 0 itself; workers run parts 1..n-1. Threads are owned and
// joined by the destructor. Run() is not reentrant: one caller at a time.
#ifndef SAC_ENVS_WORKER_POOL_H_
#define SAC_ENVS_WORKER_POOL_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace sac::envs {

class WorkerPool {
 public:
  // `num_threads` >= 1 counts the caller: num_threads - 1 workers are started.
  explicit WorkerPool(int num_threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(part) for every part in [0, num_threads()) concurrently, and returns
  // when all have returned.
  void Run(const std::function<void(int part)>& fn) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WorkerLoop(int part) ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  absl::CondVar work_cv_;  // signalled when a Run starts or the pool stops
  absl::CondVar done_cv_;  // signalled when the last worker of a Run finishes
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;  // bumped by each Run
  int pending_ ABSL_GUARDED_BY(mu_) = 0;          // workers still running this generation
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  const std::function<void(int)>* fn_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::thread> workers_;
};

}  // namespace sac::envs

#endif  // SAC_ENVS_WORKER_POOL_H_
