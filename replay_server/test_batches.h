// Test support (header-only): deterministic transition batches whose every
// value depends on (seed, row, column), so a test can check rows byte for byte.
#ifndef SAC_REPLAY_SERVER_TEST_BATCHES_H_
#define SAC_REPLAY_SERVER_TEST_BATCHES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/tensor_codec.h"
#include "sac/v1/transition.pb.h"

namespace sac::replay::testing {

// Value of column `col` (0 obs, 1 action, 2 reward, 3 next_obs), row `id`, element j.
inline float TestValue(uint64_t id, int col, int64_t j) {
  return static_cast<float>(static_cast<double>(id % 100003) * 0.001 + col * 10.0 + j * 0.01);
}

// Rows with ids first_id .. first_id + rows - 1; actor_id and policy_version
// carry the id (low / high 32 bits) so a stored row can be traced to its origin.
inline v1::TransitionBatch MakeBatch(uint64_t first_id, int64_t rows, int64_t obs_dim,
                                     int64_t act_dim) {
  std::vector<float> obs, action, reward, next_obs;
  v1::TransitionBatch b;
  std::string term, trunc;
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t id = first_id + static_cast<uint64_t>(r);
    for (int64_t j = 0; j < obs_dim; ++j) obs.push_back(TestValue(id, 0, j));
    for (int64_t j = 0; j < act_dim; ++j) action.push_back(TestValue(id, 1, j));
    reward.push_back(TestValue(id, 2, 0));
    for (int64_t j = 0; j < obs_dim; ++j) next_obs.push_back(TestValue(id, 3, j));
    term.push_back(static_cast<char>(id % 7 == 0));
    trunc.push_back(static_cast<char>(id % 5 == 0));
    b.add_policy_version(id);
    b.add_actor_id(static_cast<uint32_t>(id % 1000));
  }
  EncodeMatrix(obs, rows, obs_dim, b.mutable_obs());
  EncodeMatrix(action, rows, act_dim, b.mutable_action());
  EncodeVector(reward, b.mutable_reward());
  EncodeMatrix(next_obs, rows, obs_dim, b.mutable_next_obs());
  b.set_terminated(term);
  b.set_truncated(trunc);
  return b;
}

// Row `r` of `b` as one-row batch (for byte-for-byte comparison with ReadRow).
inline v1::TransitionBatch RowOf(const v1::TransitionBatch& b, int64_t r, int64_t obs_dim,
                                 int64_t act_dim) {
  v1::TransitionBatch out;
  auto slice = [r](const v1::Tensor& t, int64_t width, v1::Tensor* o) {
    o->add_shape(1);
    if (t.shape_size() == 2) o->add_shape(width);
    o->set_data(
        t.data().substr(static_cast<size_t>(r * width * 4), static_cast<size_t>(width * 4)));
  };
  slice(b.obs(), obs_dim, out.mutable_obs());
  slice(b.action(), act_dim, out.mutable_action());
  slice(b.reward(), 1, out.mutable_reward());
  slice(b.next_obs(), obs_dim, out.mutable_next_obs());
  out.set_terminated(b.terminated().substr(static_cast<size_t>(r), 1));
  out.set_truncated(b.truncated().substr(static_cast<size_t>(r), 1));
  out.add_policy_version(b.policy_version(static_cast<int>(r)));
  out.add_actor_id(b.actor_id(static_cast<int>(r)));
  return out;
}

}  // namespace sac::replay::testing

#endif  // SAC_REPLAY_SERVER_TEST_BATCHES_H_
