#include "envs/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace sac::envs {
namespace {

TEST(WorkerPoolTest, OneThreadRunsOnCaller) {
  WorkerPool pool(1);
  EXPECT_EQ(pool.num_threads(), 1);
  std::thread::id ran_on;
  pool.Run([&](int part) {
    EXPECT_EQ(part, 0);
    ran_on = std::this_thread::get_id();
  });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(WorkerPoolTest, EveryPartRunsOncePerRunOnDistinctThreads) {
  WorkerPool pool(4);
  for (int round = 0; round < 200; ++round) {
    std::vector<int> hits(4, 0);
    absl::Mutex mu;
    std::set<std::thread::id> threads;
    pool.Run([&](int part) {
      hits[part] += 1;  // each part owns its slot
      absl::MutexLock lock(&mu);
      threads.insert(std::this_thread::get_id());
    });
    // Run returned: every part has finished.
    EXPECT_EQ(hits, std::vector<int>(4, 1)) << "round " << round;
    EXPECT_EQ(threads.size(), 4u);
  }
}

TEST(WorkerPoolTest, DestructorJoinsIdleWorkers) {
  std::atomic<int> total{0};
  {
    WorkerPool pool(3);
    pool.Run([&](int part) { total += part + 1; });
  }
  EXPECT_EQ(total.load(), 6);
}

}  // namespace
}  // namespace sac::envs
