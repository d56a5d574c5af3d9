#include "envs/worker_pool.h"

namespace sac::envs {

WorkerPool::WorkerPool(int num_threads) {
  for (int part = 1; part < num_threads; ++part) {
    workers_.emplace_back([this, part] { WorkerLoop(part); });
  }
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : workers_) t.join();
}

void WorkerPool::Run(const std::function<void(int)>& fn) {
  if (workers_.empty()) {
    fn(0);
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    fn_ = &fn;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  fn(0);
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* pending) { return *pending == 0; }, &pending_));
  fn_ = nullptr;
}

void WorkerPool::WorkerLoop(int part) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)>* fn;
    {
      absl::MutexLock lock(&mu_);
      struct Args {
        WorkerPool* pool;
        uint64_t seen;
      } args{this, seen};
      mu_.Await(absl::Condition(
          +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return a->pool->stop_ || a->pool->generation_ != a->seen;
          },
          &args));
      if (stop_) return;
      seen = generation_;
      fn = fn_;
    }
    (*fn)(part);
    absl::MutexLock lock(&mu_);
    --pending_;
  }
}

}  // namespace sac::envs
