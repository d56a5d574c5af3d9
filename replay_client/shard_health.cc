#include "replay_client/shard_health.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/server.h"

namespace sac::replay {

ShardHealth::ShardHealth(std::vector<v1::ReplayService::Stub*> stubs,
                         std::vector<std::string> addresses, std::string token,
                         absl::Duration initial_backoff, absl::Duration max_backoff)
    : stubs_(std::move(stubs)),
      addresses_(std::move(addresses)),
      token_(std::move(token)),
      initial_backoff_(initial_backoff),
      max_backoff_(max_backoff),
      state_(std::make_shared<State>()) {
  absl::MutexLock lock(&state_->mu);
  state_->shards.resize(addresses_.size());
  for (Shard& s : state_->shards) s.backoff = initial_backoff_;
}

ShardHealth::~ShardHealth() {
  // Probes still in flight use the stubs' channels: cancel them and wait for
  // their callbacks (which hold their own references to `state_` and to their
  // call). Cancelled outside the lock, which a callback takes.
  std::vector<std::shared_ptr<ProbeCall>> in_flight;
  {
    absl::MutexLock lock(&state_->mu);
    for (Shard& s : state_->shards) {
      if (s.probing && s.probe) in_flight.push_back(s.probe);
    }
  }
  for (auto& probe : in_flight) probe->context.TryCancel();
  absl::MutexLock lock(&state_->mu);
  state_->mu.Await(absl::Condition(
      +[](int* count) { return *count == 0; }, &state_->probes_in_flight));
}

void ShardHealth::Get(std::vector<bool>* up, std::vector<uint64_t>* sizes) const {
  absl::MutexLock lock(&state_->mu);
  const size_t n = state_->shards.size();
  up->assign(n, false);
  sizes->assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    (*up)[i] = !state_->shards[i].down;
    (*sizes)[i] = (*up)[i] ? state_->shards[i].size : 0;
  }
}

void ShardHealth::RecordSize(size_t i, uint64_t size) {
  absl::MutexLock lock(&state_->mu);
  state_->shards[i].size = size;
}

void ShardHealth::MarkDown(size_t i, const std::string& error) {
  absl::MutexLock lock(&state_->mu);
  MarkDownLocked(state_.get(), i, addresses_[i], error, max_backoff_);
}

void ShardHealth::MarkDownLocked(State* state, size_t i, const std::string& address,
                                 const std::string& error, absl::Duration max_backoff) {
  Shard& s = state->shards[i];
  if (!s.down) {
    SAC_LOG(WARNING) << "replay shard " << i << " (" << address << ") does not answer (" << error
                     << "); sampling from the other shards, probing it with backoff";
  }
  s.down = true;
  s.error = error;
  s.retry_at = absl::Now() + s.backoff;
  s.backoff = std::min(s.backoff * 2, max_backoff);
}

absl::Status ShardHealth::DownErrorLocked(size_t i) const {
  return absl::UnavailableError(absl::StrCat("shard ", i, " (", addresses_[i], "): not answering (",
                                             state_->shards[i].error,
                                             "); left out until it answers again"));
}

absl::Status ShardHealth::DownError(size_t i) const {
  absl::MutexLock lock(&state_->mu);
  if (!state_->shards[i].down) return absl::OkStatus();
  return DownErrorLocked(i);
}

absl::Status ShardHealth::NoShardError() const {
  absl::MutexLock lock(&state_->mu);
  std::string why;
  for (size_t i = 0; i < state_->shards.size(); ++i) {
    absl::StrAppend(&why, i == 0 ? "" : "; ", DownErrorLocked(i).message());
  }
  return absl::UnavailableError(absl::StrCat("no replay shard answers: ", why));
}

void ShardHealth::ProbeDue(absl::Duration timeout) {
  std::vector<size_t> due;
  {
    absl::MutexLock lock(&state_->mu);
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < state_->shards.size(); ++i) {
      const Shard& s = state_->shards[i];
      if (s.down && !s.probing && now >= s.retry_at) due.push_back(i);
    }
  }
  for (size_t i : due) Probe(i, timeout);
}

void ShardHealth::Probe(size_t i, absl::Duration timeout) {
  auto probe = std::make_shared<ProbeCall>();
  {
    absl::MutexLock lock(&state_->mu);
    Shard& s = state_->shards[i];
    if (s.probing) return;
    s.probing = true;
    s.probe = probe;
    ++state_->probes_in_flight;
  }
  PrepareClientContext(&probe->context, std::min(timeout, max_backoff_), token_);
  stubs_[i]->async()->GetStatus(
      &probe->context, &probe->request, &probe->response,
      [state = state_, probe, i, address = addresses_[i], initial = initial_backoff_,
       max_backoff = max_backoff_](const grpc::Status& status) {
        absl::MutexLock lock(&state->mu);
        Shard& s = state->shards[i];
        s.probing = false;
        if (status.ok()) {
          if (s.down) {
            SAC_LOG(INFO) << "replay shard " << i << " (" << address
                          << ") answers again; sampling from it";
          }
          s.down = false;
          s.size = probe->response.size();
          s.backoff = initial;
          s.error.clear();
        } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          MarkDownLocked(state.get(), i, address, status.error_message(), max_backoff);
        }
        --state->probes_in_flight;
      });
}

bool ShardHealth::AwaitProbes(absl::Duration timeout) const {
  absl::MutexLock lock(&state_->mu);
  return state_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](int* count) { return *count == 0; }, &state_->probes_in_flight),
      timeout);
}

}  // namespace sac::replay
