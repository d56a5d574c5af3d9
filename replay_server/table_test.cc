#include "replay_server/table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "replay_server/test_batches.h"

namespace sac::replay {
namespace {

using testing::MakeBatch;
using testing::RowOf;

constexpr int64_t kObs = 3, kAct = 2;

std::unique_ptr<ReplayTable> MakeTable(int64_t capacity, const std::string& selector = "uniform") {
  TableOptions o;
  o.spec = {kObs, kAct};
  o.capacity = capacity;
  o.selector = selector;
  auto t = ReplayTable::Create(o);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

uint64_t Insert(ReplayTable* t, const v1::TransitionBatch& b) {
  auto v = ValidateBatch(b, t->spec(), 1 << 20);
  EXPECT_TRUE(v.ok()) << v.status();
  return t->Insert(v->rows);
}

TEST(ReplayTableTest, CreateRejectsBadOptions) {
  TableOptions o;
  o.spec = {kObs, kAct};
  o.capacity = 0;
  EXPECT_EQ(ReplayTable::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.capacity = 10;
  o.selector = "lifo";
  EXPECT_EQ(ReplayTable::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
}

// Every field of the row record lies inside it, none overlaps another, the
// 8-byte fields are 8-aligned and the record is whole cache lines; for the
// obs/act sizes of the nine tasks and a few odd ones.
TEST(RowLayoutTest, FieldsAreDisjointAlignedAndFitTheRecord) {
  for (auto [od, ad] : std::vector<std::pair<int64_t, int64_t>>{{4, 1},
                                                                {11, 1},
                                                                {9, 1},
                                                                {10, 2},
                                                                {8, 2},
                                                                {17, 6},
                                                                {17, 6},
                                                                {105, 8},
                                                                {348, 17},
                                                                {1, 1},
                                                                {3, 2}}) {
    const RowLayout l(TableSpec{od, ad});
    struct Field {
      int64_t begin, size;
    };
    std::vector<Field> fields = {{l.obs, 4 * od},      {l.action, 4 * ad},    {l.reward, 4},
                                 {l.next_obs, 4 * od}, {l.policy_version, 8}, {l.key, 8},
                                 {l.actor_id, 4},      {l.terminated, 1},     {l.truncated, 1}};
    std::sort(fields.begin(), fields.end(), [](Field a, Field b) { return a.begin < b.begin; });
    EXPECT_GE(fields.front().begin, 0);
    for (size_t i = 1; i < fields.size(); ++i) {
      EXPECT_GE(fields[i].begin, fields[i - 1].begin + fields[i - 1].size) << od << "/" << ad;
    }
    EXPECT_LE(fields.back().begin + fields.back().size, l.stride);
    EXPECT_EQ(l.stride % 64, 0);
    const int64_t padding = l.stride - TableSpec{od, ad}.row_bytes();
    EXPECT_LT(padding, 64 + 8) << "padding beyond a line";
    EXPECT_EQ(l.policy_version % 8, 0);
    EXPECT_EQ(l.key % 8, 0);
  }
  EXPECT_EQ(RowLayout(TableSpec{17, 6}).stride, 192);  // HalfCheetah: 3 cache lines
}

TEST(ReplayTableTest, StoresRowsByteForByteWithConsecutiveKeys) {
  auto t = MakeTable(100);
  const auto b1 = MakeBatch(1000, 7, kObs, kAct);
  const auto b2 = MakeBatch(2000, 5, kObs, kAct);
  EXPECT_EQ(Insert(t.get(), b1), 0u);
  EXPECT_EQ(Insert(t.get(), b2), 7u);
  EXPECT_EQ(t->size(), 12);
  EXPECT_EQ(t->inserts_total(), 12u);
  EXPECT_EQ(t->bytes_held(), 12 * RowLayout(t->spec()).stride);
  for (int r = 0; r < 7; ++r) {
    v1::TransitionBatch row;
    ASSERT_TRUE(t->ReadRow(r, &row).ok());
    EXPECT_EQ(row.SerializeAsString(), RowOf(b1, r, kObs, kAct).SerializeAsString()) << r;
  }
  v1::TransitionBatch row;
  ASSERT_TRUE(t->ReadRow(11, &row).ok());
  EXPECT_EQ(row.SerializeAsString(), RowOf(b2, 4, kObs, kAct).SerializeAsString());
  EXPECT_EQ(t->ReadRow(12, &row).code(), absl::StatusCode::kNotFound);
}

TEST(ReplayTableTest, EvictsOldestFirst) {
  auto t = MakeTable(10);
  for (int i = 0; i < 4; ++i) {
    Insert(t.get(), MakeBatch(uint64_t{100} * i, 4, kObs, kAct));  // keys 0..15
  }
  EXPECT_EQ(t->size(), 10);
  EXPECT_EQ(t->next_key(), 16u);
  v1::TransitionBatch row;
  for (uint64_t k = 0; k < 6; ++k) {
    EXPECT_EQ(t->ReadRow(k, &row).code(), absl::StatusCode::kNotFound);
  }
  for (uint64_t k = 6; k < 16; ++k) {
    ASSERT_TRUE(t->ReadRow(k, &row).ok()) << k;
    EXPECT_EQ(row.policy_version(0), 100 * (k / 4) + k % 4) << k;
  }
}

TEST(ReplayTableTest, BatchLargerThanCapacityKeepsItsLastRows) {
  auto t = MakeTable(4);
  Insert(t.get(), MakeBatch(0, 10, kObs, kAct));
  EXPECT_EQ(t->size(), 4);
  EXPECT_EQ(t->next_key(), 10u);
  v1::TransitionBatch row;
  ASSERT_TRUE(t->ReadRow(9, &row).ok());
  EXPECT_EQ(row.policy_version(0), 9u);
  EXPECT_EQ(t->ReadRow(5, &row).code(), absl::StatusCode::kNotFound);
}

TEST(ReplayTableTest, SampleReturnsHeldRowsWithKeysAndShapes) {
  auto t = MakeTable(50);
  absl::BitGen gen;
  v1::SampleResponse empty;
  EXPECT_EQ(t->Sample(4, gen, &empty).code(), absl::StatusCode::kFailedPrecondition);
  const auto b = MakeBatch(500, 20, kObs, kAct);
  Insert(t.get(), b);
  v1::SampleResponse s;
  ASSERT_TRUE(t->Sample(64, gen, &s).ok());
  ASSERT_EQ(s.key_size(), 64);
  EXPECT_EQ(s.batch().obs().shape(0), 64);
  EXPECT_EQ(s.batch().obs().shape(1), kObs);
  EXPECT_EQ(s.table_size(), 20u);
  auto obs = DecodeTensor(s.batch().obs(), "obs");
  ASSERT_TRUE(obs.ok());
  for (int i = 0; i < 64; ++i) {
    const uint64_t key = s.key(i);
    ASSERT_LT(key, 20u);
    // The row is the one with that key, column by column.
    EXPECT_EQ(s.batch().policy_version(i), 500 + key);
    EXPECT_EQ(obs->row(i)[1], testing::TestValue(500 + key, 0, 1));
    EXPECT_EQ(s.batch().terminated()[i], static_cast<char>((500 + key) % 7 == 0));
  }
  EXPECT_EQ(t->samples_total(), 64u);
}

TEST(ReplayTableTest, InsertWithKeySkipsRowsAlreadyHeld) {
  auto t = MakeTable(100);
  auto b = MakeBatch(0, 10, kObs, kAct);
  auto v = ValidateBatch(b, t->spec(), 100);
  ASSERT_TRUE(v.ok());
  t->InsertWithKey(0, v->rows);
  t->InsertWithKey(5, v->rows);  // keys 5..9 held already: rows 5.. of this one give keys 10..14
  EXPECT_EQ(t->next_key(), 15u);
  v1::TransitionBatch row;
  ASSERT_TRUE(t->ReadRow(12, &row).ok());
  EXPECT_EQ(row.policy_version(0), 7u);
  t->InsertWithKey(0, v->rows);  // all held: nothing
  EXPECT_EQ(t->size(), 15);
}

// Samples copy rows without the lock while inserts overwrite the oldest ones:
// every sampled row must be one whole row, never a mix of an old and a new one.
// The table is small and HalfCheetah-sized (3 cache lines a row), so copies of
// rows being overwritten are frequent and are redrawn.
TEST(ReplayTableTest, SamplesDuringOverwritesReturnWholeRows) {
  constexpr int64_t kO = 17, kA = 6;
  constexpr int kSamples = 400;
  for (const char* selector : {"uniform", "prioritized"}) {
    SCOPED_TRACE(selector);
    TableOptions o;
    o.spec = {kO, kA};
    o.capacity = 64;
    o.selector = selector;
    auto table = ReplayTable::Create(o);
    ASSERT_TRUE(table.ok()) << table.status();
    ReplayTable* t = table->get();
    // Each inserter cycles through batches of distinct ids of its own.
    std::vector<v1::TransitionBatch> batches;
    batches.reserve(16);
    for (uint64_t k = 0; k < 16; ++k) batches.push_back(MakeBatch(1000 + 16 * k, 16, kO, kA));
    std::vector<ValidatedBatch> validated;
    validated.reserve(batches.size());
    for (const auto& b : batches) validated.push_back(*ValidateBatch(b, t->spec(), 1 << 20));
    for (int k = 0; k < 4; ++k) t->Insert(validated[k].rows);
    std::atomic<bool> stop{false};
    std::vector<std::thread> inserters;
    inserters.reserve(2);
    for (int w = 0; w < 2; ++w) {
      inserters.emplace_back([&, w] {
        for (size_t k = static_cast<size_t>(w); !stop.load(); k = (k + 1) % validated.size()) {
          t->Insert(validated[k].rows);
        }
      });
    }
    absl::BitGen gen;
    int64_t bad = 0, rows = 0;
    for (int s = 0; s < kSamples && bad == 0; ++s) {
      v1::SampleResponse r;
      const absl::Status st = t->Sample(32, gen, &r);
      if (!st.ok()) {
        ADD_FAILURE() << st;
        break;
      }
      const auto& b = r.batch();
      auto obs = DecodeTensor(b.obs(), "obs");
      auto action = DecodeTensor(b.action(), "action");
      auto reward = DecodeTensor(b.reward(), "reward");
      auto next_obs = DecodeTensor(b.next_obs(), "next_obs");
      ASSERT_TRUE(obs.ok() && action.ok() && reward.ok() && next_obs.ok());
      for (int i = 0; i < 32; ++i, ++rows) {
        const uint64_t id = b.policy_version(i);
        bool whole =
            b.actor_id(i) == id % 1000 && b.terminated()[i] == static_cast<char>(id % 7 == 0) &&
            b.truncated()[i] == static_cast<char>(id % 5 == 0) &&
            reward->values()[i] == testing::TestValue(id, 2, 0) && r.key(i) < t->next_key();
        for (int64_t j = 0; j < kO; ++j) {
          whole = whole && obs->row(i)[j] == testing::TestValue(id, 0, j) &&
                  next_obs->row(i)[j] == testing::TestValue(id, 3, j);
        }
        for (int64_t j = 0; j < kA; ++j) {
          whole = whole && action->row(i)[j] == testing::TestValue(id, 1, j);
        }
        if (!whole) {
          ++bad;
          ADD_FAILURE() << "sample " << s << " row " << i << " (policy_version " << id << ", key "
                        << r.key(i) << ") mixes rows";
        }
      }
    }
    stop = true;
    for (auto& th : inserters) th.join();
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(rows, kSamples * 32);
    std::printf("%s: %ld rows sampled during overwrites, %lu of them redrawn\n", selector,
                static_cast<long>(rows), static_cast<unsigned long>(t->redrawn_rows()));
  }
}

// Fields of every width the copies handle differently (4, 8, 12, 16, 20, 28,
// 68, 132 bytes): each sampled row equals the row its policy_version names.
TEST(ReplayTableTest, SampledRowsAreExactForManyWidths) {
  for (const TableSpec spec : {TableSpec{1, 1}, TableSpec{2, 3}, TableSpec{4, 5}, TableSpec{5, 7},
                               TableSpec{17, 6}, TableSpec{33, 1}}) {
    SCOPED_TRACE(::testing::Message() << "obs " << spec.obs_dim << " act " << spec.act_dim);
    TableOptions o;
    o.spec = spec;
    o.capacity = 100;
    auto t = std::move(*ReplayTable::Create(o));
    const auto b = MakeBatch(7000, 40, spec.obs_dim, spec.act_dim);
    auto v = ValidateBatch(b, spec, 1000);
    ASSERT_TRUE(v.ok()) << v.status();
    t->Insert(v->rows);
    absl::BitGen gen;
    v1::SampleResponse r;
    ASSERT_TRUE(t->Sample(64, gen, &r).ok());
    auto obs = DecodeTensor(r.batch().obs(), "obs");
    auto action = DecodeTensor(r.batch().action(), "action");
    auto next_obs = DecodeTensor(r.batch().next_obs(), "next_obs");
    auto reward = DecodeTensor(r.batch().reward(), "reward");
    ASSERT_TRUE(obs.ok() && action.ok() && next_obs.ok() && reward.ok());
    for (int i = 0; i < 64; ++i) {
      const uint64_t id = r.batch().policy_version(i);
      ASSERT_EQ(id, 7000 + r.key(i));
      for (int64_t j = 0; j < spec.obs_dim; ++j) {
        ASSERT_EQ(obs->row(i)[j], testing::TestValue(id, 0, j)) << i << " " << j;
        ASSERT_EQ(next_obs->row(i)[j], testing::TestValue(id, 3, j)) << i << " " << j;
      }
      for (int64_t j = 0; j < spec.act_dim; ++j) {
        ASSERT_EQ(action->row(i)[j], testing::TestValue(id, 1, j)) << i << " " << j;
      }
      ASSERT_EQ(reward->values()[i], testing::TestValue(id, 2, 0));
      ASSERT_EQ(r.batch().actor_id(i), id % 1000);
    }
  }
}

TEST(ReplayTableTest, RestoreNeedsATableNothingWasInsertedInto) {
  auto t = MakeTable(16);
  Insert(t.get(), MakeBatch(0, 5, kObs, kAct));
  const TableContents c = t->Copy();
  auto u = MakeTable(16);
  Insert(u.get(), MakeBatch(100, 1, kObs, kAct));
  const absl::Status s = u->Restore(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("restore"), std::string::npos) << s;
  EXPECT_EQ(u->size(), 1);  // unchanged
}

TEST(ReplayTableTest, CopyRestoreRoundTrip) {
  auto t = MakeTable(16);
  for (int i = 0; i < 5; ++i) Insert(t.get(), MakeBatch(uint64_t{1000} * i, 5, kObs, kAct));
  const TableContents c = t->Copy();
  auto u = MakeTable(16);
  ASSERT_TRUE(u->Restore(c).ok());
  EXPECT_EQ(u->size(), 16);
  EXPECT_EQ(u->next_key(), 25u);
  for (uint64_t k = 9; k < 25; ++k) {
    v1::TransitionBatch a, b;
    ASSERT_TRUE(t->ReadRow(k, &a).ok());
    ASSERT_TRUE(u->ReadRow(k, &b).ok());
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  }
  // FIFO continues where it stopped.
  Insert(u.get(), MakeBatch(9000, 1, kObs, kAct));
  v1::TransitionBatch row;
  EXPECT_EQ(u->ReadRow(9, &row).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(u->ReadRow(25, &row).ok());
  EXPECT_EQ(row.policy_version(0), 9000u);
  TableOptions other;
  other.spec = {kObs + 1, kAct};
  other.capacity = 16;
  auto w = ReplayTable::Create(other);
  EXPECT_EQ((*w)->Restore(c).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReplayTableTest, UpdatePrioritiesOnlyOnPrioritizedTables) {
  auto u = MakeTable(8);
  Insert(u.get(), MakeBatch(0, 4, kObs, kAct));
  const uint64_t keys[] = {0};
  const float p[] = {1};
  EXPECT_EQ(u->UpdatePriorities(keys, p).status().code(), absl::StatusCode::kFailedPrecondition);
  auto t = MakeTable(4, "prioritized");
  Insert(t.get(), MakeBatch(0, 6, kObs, kAct));  // keys 2..5 held
  const uint64_t k2[] = {0, 3, 5, 99};
  const float p2[] = {1, 2, 3, 4};
  auto n = t->UpdatePriorities(k2, p2);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);  // 0 evicted, 99 never inserted
}

TEST(ValidateBatchTest, NamesTheField) {
  const TableSpec spec{kObs, kAct};
  auto good = MakeBatch(0, 4, kObs, kAct);
  EXPECT_TRUE(ValidateBatch(good, spec, 100).ok());
  auto expect = [&](const v1::TransitionBatch& b, absl::StatusCode code, const std::string& field) {
    auto r = ValidateBatch(b, spec, 100);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), code);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status();
  };
  auto b = good;
  b.mutable_obs()->set_shape(1, kObs + 1);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.obs");
  b = good;
  b.mutable_action()->mutable_data()->resize(3);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.action");
  b = good;
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.mutable_reward()->mutable_data()->data() + 4, &nan, 4);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.reward");
  b = good;
  (*b.mutable_terminated())[2] = 2;
  expect(b, absl::StatusCode::kInvalidArgument, "batch.terminated");
  b = good;
  b.mutable_truncated()->pop_back();
  expect(b, absl::StatusCode::kInvalidArgument, "batch.truncated");
  b = good;
  b.add_policy_version(1);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.policy_version");
  b = good;
  b.clear_actor_id();
  expect(b, absl::StatusCode::kInvalidArgument, "batch.actor_id");
  b = good;
  float inf = std::numeric_limits<float>::infinity();
  std::memcpy(b.mutable_next_obs()->mutable_data()->data(), &inf, 4);
  expect(b, absl::StatusCode::kInvalidArgument, "batch.next_obs");
  expect(MakeBatch(0, 101, kObs, kAct), absl::StatusCode::kResourceExhausted, "batch.obs");
  expect(v1::TransitionBatch(), absl::StatusCode::kInvalidArgument, "batch.obs");
}

TEST(RecordTest, EncodeDecodeRoundTrip) {
  const TableSpec spec{kObs, kAct};
  auto b = MakeBatch(77, 9, kObs, kAct);
  auto v = ValidateBatch(b, spec, 100);
  ASSERT_TRUE(v.ok());
  std::string rec = EncodeRecord(0, v->rows, spec);
  SetRecordKey(1234, &rec);
  uint64_t key = 0;
  auto r = DecodeRecord(rec, spec, &key);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(key, 1234u);
  EXPECT_EQ(r->rows, 9);
  // The decoded rows are the bytes written: a bitwise comparison is the point.
  // NOLINTBEGIN(bugprone-suspicious-memory-comparison)
  EXPECT_EQ(std::memcmp(r->obs, v->rows.obs, 9 * kObs * 4), 0);
  EXPECT_EQ(std::memcmp(r->next_obs, v->rows.next_obs, 9 * kObs * 4), 0);
  // NOLINTEND(bugprone-suspicious-memory-comparison)
  EXPECT_EQ(r->policy_version[8], 85u);
  EXPECT_EQ(DecodeRecord(rec.substr(0, rec.size() - 1), spec, &key).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sac::replay
