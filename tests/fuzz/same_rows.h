// Comparing two copies of a replay table's rows byte for byte (the snapshot and
// log fuzzers' round-trip checks).
#ifndef SAC_TESTS_FUZZ_SAME_ROWS_H_
#define SAC_TESTS_FUZZ_SAME_ROWS_H_

#include <cstring>
#include <vector>

#include "replay_server/table.h"

namespace sac::fuzz {

// Same bytes (NaN payloads included); empty vectors have no data() to compare.
template <typename T>
bool SameBytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Every column and the counters that place the rows (size, head, next key,
// inserts); samples_total is left to the caller.
inline bool SameRows(const replay::TableContents& a, const replay::TableContents& b) {
  return a.size == b.size && a.head == b.head && a.next_key == b.next_key &&
         a.inserts_total == b.inserts_total && a.key == b.key &&
         a.policy_version == b.policy_version && a.actor_id == b.actor_id &&
         a.terminated == b.terminated && a.truncated == b.truncated && SameBytes(a.obs, b.obs) &&
         SameBytes(a.action, b.action) && SameBytes(a.reward, b.reward) &&
         SameBytes(a.next_obs, b.next_obs);
}

}  // namespace sac::fuzz

#endif  // SAC_TESTS_FUZZ_SAME_ROWS_H_
