#include "replay_server/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace sac::replay {
namespace {

absl::Time Soon() { return absl::Now() + absl::Milliseconds(50); }
absl::Time Later() { return absl::Now() + absl::Seconds(30); }

TEST(RateLimiterTest, SamplesWaitForMinSize) {
  RateLimiter limiter({/*min_size_to_sample=*/10, /*spi=*/0, /*error_buffer=*/0});
  absl::Notification admitted;
  absl::Status result;
  const RateLimiter::Ticket t =
      limiter.AwaitSample(4, Later(), [&](absl::Status s, absl::Duration) {
        result = std::move(s);
        admitted.Notify();
      });
  EXPECT_NE(t, 0u);  // it waits
  EXPECT_EQ(limiter.Status().blocked_samplers(), 1u);
  limiter.SetTableSize(9);
  EXPECT_FALSE(admitted.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  limiter.SetTableSize(11);
  ASSERT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  limiter.SetTableSize(5);  // a stale report: ignored
  EXPECT_TRUE(limiter.Sample(4, Soon()).ok());
}

TEST(RateLimiterTest, SamplesWaitForMinSizeExactly) {
  RateLimiter limiter({10, 0, 0});
  absl::Notification admitted;
  absl::Status result;
  limiter.AwaitSample(4, Later(), [&](absl::Status s, absl::Duration) {
    result = std::move(s);
    admitted.Notify();
  });
  limiter.SetTableSize(9);
  EXPECT_FALSE(admitted.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  limiter.SetTableSize(10);
  ASSERT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(limiter.Status().samples(), 4u);
  // Now it is admitted at once, on the calling thread.
  EXPECT_TRUE(limiter.Sample(4, Soon()).ok());
}

TEST(RateLimiterTest, TrySampleAdmitsOnlyWhatNeedsNoWait) {
  // spi 2, min size 2, buffer 4: samples need 2 rows held and diff - n >= 0.
  RateLimiter limiter({2, 2.0, 4.0});
  // Too small a table: refused, and nothing counted.
  limiter.SetTableSize(1);
  ASSERT_TRUE(limiter.TrySample(1).ok());
  EXPECT_FALSE(*limiter.TrySample(1));
  EXPECT_EQ(limiter.Status().samples(), 0u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.Insert(1, Soon()).ok());  // diff 8
  limiter.SetTableSize(4);
  EXPECT_TRUE(*limiter.TrySample(2));  // diff 6
  EXPECT_TRUE(*limiter.TrySample(4));  // diff 2
  // Beyond the ratio: refused, and nothing counted.
  EXPECT_FALSE(*limiter.TrySample(3));
  EXPECT_EQ(limiter.Status().samples(), 6u);
  // A waiting sample keeps later samples from passing it, even one that fits.
  absl::Notification admitted;
  limiter.AwaitSample(3, Later(), [&](const absl::Status& s, absl::Duration) {
    EXPECT_TRUE(s.ok()) << s;
    admitted.Notify();
  });
  EXPECT_EQ(limiter.Status().blocked_samplers(), 1u);
  EXPECT_FALSE(*limiter.TrySample(1));
  EXPECT_EQ(limiter.Status().samples(), 6u);
  ASSERT_TRUE(limiter.Insert(1, Soon()).ok());  // diff 4: the waiter fits
  ASSERT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(limiter.Status().samples(), 9u);
  // Closed: UNAVAILABLE.
  limiter.Close();
  EXPECT_EQ(limiter.TrySample(1).status().code(), absl::StatusCode::kUnavailable);
}

TEST(RateLimiterTest, DeadlineBecomesDeadlineExceeded) {
  RateLimiter limiter({10, 0, 0});
  const absl::Time start = absl::Now();
  absl::Status s = limiter.Sample(1, absl::Now() + absl::Milliseconds(30));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  EXPECT_EQ(limiter.Status().blocked_samplers(), 0u);
  // A deadline already passed fails at once.
  EXPECT_EQ(limiter.Sample(1, absl::Now() - absl::Seconds(1)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(RateLimiterTest, RatioBlocksInsertsUntilSamplesCatchUp) {
  // spi 2, min size 0, buffer 4: inserts run ahead by at most 2 rows.
  RateLimiter limiter({0, 2.0, 4.0});
  limiter.SetTableSize(1000);
  EXPECT_TRUE(limiter.Insert(1, Soon()).ok());  // diff 2
  EXPECT_TRUE(limiter.Insert(1, Soon()).ok());  // diff 4
  absl::Notification admitted;
  limiter.AwaitInsert(1, Later(), [&](const absl::Status& s, absl::Duration) {
    EXPECT_TRUE(s.ok()) << s;
    admitted.Notify();
  });
  EXPECT_EQ(limiter.Status().blocked_inserters(), 1u);
  EXPECT_FALSE(admitted.HasBeenNotified());
  EXPECT_TRUE(limiter.Sample(2, Soon()).ok());  // diff 2: the insert fits again
  ASSERT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // Samples cannot run ahead by more than the buffer either.
  EXPECT_TRUE(limiter.Sample(4, Soon()).ok());  // diff 0
  EXPECT_TRUE(limiter.Sample(4, Soon()).ok());  // diff -4 == min_diff
  EXPECT_EQ(limiter.Sample(1, Soon()).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RateLimiterTest, RequestsLargerThanHalfTheBandAreRefused) {
  RateLimiter limiter({0, 2.0, 10.0});
  EXPECT_TRUE(limiter.CheckInsert(5, "rows").ok());
  EXPECT_EQ(limiter.CheckInsert(6, "rows").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(limiter.CheckSample(10, "batch_size").ok());
  absl::Status s = limiter.CheckSample(11, "batch_size");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("batch_size"), std::string::npos);
}

TEST(RateLimiterTest, CloseWakesEveryWaiterAndRefusesLaterCalls) {
  RateLimiter limiter({100, 1.0, 1.0});
  std::atomic<int> unavailable{0};
  absl::Notification all;
  std::atomic<int> left{6};
  for (int i = 0; i < 3; ++i) {
    limiter.AwaitSample(1, absl::InfiniteFuture(), [&](const absl::Status& s, absl::Duration) {
      if (s.code() == absl::StatusCode::kUnavailable) ++unavailable;
      if (--left == 0) all.Notify();
    });
  }
  // Past min size the ratio band (buffer 1) stops inserts quickly.
  for (int i = 0; i < 3; ++i) {
    limiter.AwaitInsert(1000, absl::InfiniteFuture(), [&](const absl::Status& s, absl::Duration) {
      if (s.code() == absl::StatusCode::kUnavailable) ++unavailable;
      if (--left == 0) all.Notify();
    });
  }
  limiter.Close();
  ASSERT_TRUE(all.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(unavailable.load(), 3);  // the samplers at least; the first insert may pass
  EXPECT_EQ(limiter.Insert(1, Later()).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(limiter.Sample(1, Later()).code(), absl::StatusCode::kUnavailable);
}

TEST(RateLimiterTest, CancelRemovesAWaiter) {
  RateLimiter limiter({10, 0, 0});
  bool called = false;
  const RateLimiter::Ticket t =
      limiter.AwaitSample(1, Later(), [&](const absl::Status&, absl::Duration) { called = true; });
  ASSERT_NE(t, 0u);
  EXPECT_TRUE(limiter.Cancel(t));
  EXPECT_FALSE(limiter.Cancel(t));
  limiter.SetTableSize(100);
  EXPECT_TRUE(limiter.Sample(1, Soon()).ok());  // the limiter thread has looked since
  EXPECT_FALSE(called);
}

// Many inserters and samplers at a tight ratio: every insert is admitted
// before its deadline (samplers keep up), the counts stay inside the band at all
// times, and Close releases the samplers left waiting. Nothing hangs.
TEST(RateLimiterTest, ManyConcurrentInsertersAndSamplersDoNotDeadlock) {
  const double spi = 4, buffer = 64;
  const uint64_t min_size = 16;
  RateLimiter limiter({min_size, spi, buffer});
  std::atomic<int64_t> table_size{0};
  std::atomic<bool> violated{false};
  std::atomic<int> insert_failures{0};
  constexpr int kInserters = 6, kSamplers = 6, kOps = 300;
  std::vector<std::thread> threads;
  threads.reserve(kInserters + kSamplers);
  for (int i = 0; i < kInserters; ++i) {
    threads.emplace_back([&, i] {
      for (int op = 0; op < kOps; ++op) {
        const int64_t rows = 1 + (op + i) % 4;
        absl::Status s = limiter.Insert(rows, Later());
        if (!s.ok()) {
          ++insert_failures;
          break;
        }
        limiter.SetTableSize(table_size.fetch_add(rows) + rows);
      }
    });
  }
  for (int i = 0; i < kSamplers; ++i) {
    threads.emplace_back([&, i] {
      for (int op = 0;; ++op) {
        absl::Status s = limiter.Sample(1 + (op * 7 + i) % 16, Later());
        if (!s.ok()) {
          if (s.code() != absl::StatusCode::kUnavailable) violated = true;
          break;
        }
        const v1::RateLimiterStatus st = limiter.Status();
        const double diff =
            static_cast<double>(st.inserts()) * spi - static_cast<double>(st.samples());
        if (diff < spi * min_size - buffer - 1e-9) violated = true;
      }
    });
  }
  for (int i = 0; i < kInserters; ++i) threads[i].join();
  limiter.Close();
  for (int i = kInserters; i < kInserters + kSamplers; ++i) threads[i].join();
  EXPECT_EQ(insert_failures.load(), 0);
  EXPECT_FALSE(violated.load());
  const auto st = limiter.Status();
  EXPECT_EQ(st.blocked_inserters() + st.blocked_samplers(), 0u);
  int64_t want = 0;
  for (int i = 0; i < kInserters; ++i) {
    for (int op = 0; op < kOps; ++op) want += 1 + (op + i) % 4;
  }
  EXPECT_EQ(static_cast<int64_t>(st.inserts()), want);
  EXPECT_LE(static_cast<double>(st.inserts()) * spi - st.samples(), spi * min_size + buffer);
}

}  // namespace
}  // namespace sac::replay
