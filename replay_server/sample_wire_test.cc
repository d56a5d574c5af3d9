#include "replay_server/sample_wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>

#include "absl/random/random.h"
#include "sac/v1/replay.pb.h"

namespace sac::replay {
namespace {

// The message protobuf would send for the same columns.
v1::SampleResponse AsMessage(const SampleColumns& c, const TableSpec& spec, int64_t b,
                             uint64_t table_size) {
  v1::SampleResponse r;
  auto tensor = [b](const float* data, int64_t width, bool matrix, v1::Tensor* t) {
    t->add_shape(b);
    if (matrix) t->add_shape(width);
    t->set_data(reinterpret_cast<const char*>(data), static_cast<size_t>(b * width) * 4);
  };
  v1::TransitionBatch* batch = r.mutable_batch();
  tensor(c.obs, spec.obs_dim, true, batch->mutable_obs());
  tensor(c.action, spec.act_dim, true, batch->mutable_action());
  tensor(c.reward, 1, false, batch->mutable_reward());
  tensor(c.next_obs, spec.obs_dim, true, batch->mutable_next_obs());
  batch->set_terminated(std::string(reinterpret_cast<const char*>(c.terminated), b));
  batch->set_truncated(std::string(reinterpret_cast<const char*>(c.truncated), b));
  for (int64_t i = 0; i < b; ++i) {
    batch->add_policy_version(c.policy_version[i]);
    batch->add_actor_id(c.actor_id[i]);
    r.add_key(c.key[i]);
  }
  tensor(c.probability, 1, false, r.mutable_probability());
  r.set_table_size(table_size);
  return r;
}

std::string Encode(SampleResponseWriter& w, uint64_t table_size) {
  std::string out(w.Measure(table_size), '\0');
  w.Encode(reinterpret_cast<uint8_t*>(out.data()));
  return out;
}

// Every size of varint (1 to 10 bytes), batch sizes around the 1- and 2-byte
// length boundaries, wide and narrow specs, and a zero table size (left out).
TEST(SampleWireTest, EncodesExactlyWhatProtobufSerializes) {
  absl::BitGen gen;
  for (const TableSpec spec : {TableSpec{17, 6}, TableSpec{1, 1}, TableSpec{376, 17}}) {
    for (int64_t b : {1, 2, 15, 16, 127, 128, 256, 1000}) {
      for (uint64_t table_size : {0ull, 1ull, 300ull, 1000000ull, ~0ull}) {
        SampleResponseWriter w;
        w.Reset(spec, b);
        const SampleColumns& c = w.columns();
        for (int64_t i = 0; i < b * spec.obs_dim; ++i) {
          c.obs[i] = absl::Uniform<float>(gen, -1e6f, 1e6f);
          c.next_obs[i] = absl::Uniform<float>(gen, -1e6f, 1e6f);
        }
        for (int64_t i = 0; i < b * spec.act_dim; ++i) {
          c.action[i] = absl::Uniform<float>(gen, -1, 1);
        }
        for (int64_t i = 0; i < b; ++i) {
          const int shift = static_cast<int>(i % 64);
          c.reward[i] = static_cast<float>(i) - 7.5f;
          c.probability[i] = 1.0f / static_cast<float>(i + 1);
          c.terminated[i] = static_cast<uint8_t>(i % 3 == 0);
          c.truncated[i] = static_cast<uint8_t>(i % 5 == 0);
          c.policy_version[i] = i % 7 == 0 ? 0 : (uint64_t{1} << shift) + i;
          c.key[i] = i % 11 == 0 ? std::numeric_limits<uint64_t>::max() : uint64_t{1} << shift;
          c.actor_id[i] =
              i % 13 == 0 ? std::numeric_limits<uint32_t>::max() : static_cast<uint32_t>(i * 977);
        }
        const std::string want = AsMessage(c, spec, b, table_size).SerializeAsString();
        const std::string got = Encode(w, table_size);
        ASSERT_EQ(got.size(), want.size()) << "obs " << spec.obs_dim << " b " << b;
        ASSERT_TRUE(got == want) << "obs " << spec.obs_dim << " b " << b << " size " << table_size;
        v1::SampleResponse parsed;
        ASSERT_TRUE(parsed.ParseFromString(got));
        EXPECT_EQ(parsed.key_size(), b);
        EXPECT_EQ(parsed.table_size(), table_size);
      }
    }
  }
}

TEST(SampleWireTest, ReusedWriterResizes) {
  SampleResponseWriter w;
  w.Reset({3, 2}, 4);
  w.Reset({5, 1}, 2);
  const SampleColumns& c = w.columns();
  std::memset(c.obs, 0, sizeof(float) * 2 * 5);
  for (int i = 0; i < 2; ++i) {
    c.action[i] = 1;
    c.reward[i] = 2;
    c.probability[i] = 0.5f;
    c.terminated[i] = c.truncated[i] = 0;
    c.policy_version[i] = c.key[i] = 9;
    c.actor_id[i] = 1;
    for (int j = 0; j < 5; ++j) c.next_obs[i * 5 + j] = static_cast<float>(j);
  }
  EXPECT_EQ(Encode(w, 2), AsMessage(c, {5, 1}, 2, 2).SerializeAsString());
}

}  // namespace
}  // namespace sac::replay
