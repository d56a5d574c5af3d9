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
    work_cv_.SignalAll();
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
    work_cv_.SignalAll();
  }
  fn(0);
  absl::MutexLock lock(&mu_);
  while (pending_ > 0) done_cv_.Wait(&mu_);
  fn_ = nullptr;
}

void WorkerPool::WorkerLoop(int part) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)>* fn;
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && generation_ == seen) work_cv_.Wait(&mu_);
      if (stop_) return;
      seen = generation_;
      fn = fn_;
    }
    (*fn)(part);  // fn_ stays valid until every worker has decremented pending_
    absl::MutexLock lock(&mu_);
    if (--pending_ == 0) done_cv_.Signal();
  }
}

}  // namespace sac::envs
