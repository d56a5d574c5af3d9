#include "actor/actor.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "sac/v1/policy.grpc.pb.h"

namespace sac::actor {
namespace {

constexpr size_t kRecentEpisodes = 20;

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Actor>> Actor::Create(const v1::ActorConfig& config,
                                                     MetricsRegistry* metrics) {
  if (config.replay_addresses_size() == 0) {
    return absl::InvalidArgumentError("replay_addresses: give at least one shard host:port");
  }
  std::unique_ptr<Actor> a(new Actor(config));
  ASSIGN_OR_RETURN(a->envs_, envs::EnvBatch::Create(config.env()));
  ASSIGN_OR_RETURN(a->token_, ReadClientToken(config.client()));
  a->rng_.seed(config.env().seed() * 7919 + config.actor_id());
  const std::vector<std::string> env = {config.env().task()};
  Family<Counter>* acked = metrics->AddCounter(
      "sac_actor_transitions_acked_total",
      "Transitions the replay shard acknowledged as stored (shard: index in replay_addresses)",
      {"env", "shard"});
  for (int i = 0; i < config.replay_addresses_size(); ++i) {
    replay::WriterOptions w;
    w.address = config.replay_addresses(i);
    w.client = config.client();
    w.max_in_flight_batches = static_cast<int>(config.max_unacked_batches());
    ASSIGN_OR_RETURN(auto writer, replay::ReplayWriter::Create(w));
    Counter* shard_acked = acked->WithLabels({config.env().task(), absl::StrCat(i)});
    writer->SetAckObserver([shard_acked](uint64_t, uint64_t, int64_t rows) {
      shard_acked->Increment(static_cast<double>(rows));
    });
    a->writers_.push_back(std::move(writer));
  }
  a->steps_total_ =
      metrics->AddCounter("sac_actor_env_steps_total", "Environment steps taken", {"env"})
          ->WithLabels(env);
  a->episodes_total_ = metrics->AddCounter("sac_actor_episodes_total", "Episodes finished", {"env"})
                           ->WithLabels(env);
  a->rows_sent_total_ = metrics
                            ->AddCounter("sac_actor_transitions_sent_total",
                                         "Transitions handed to the replay writers", {"env"})
                            ->WithLabels(env);
  a->policy_switches_total_ = metrics
                                  ->AddCounter("sac_actor_policy_switches_total",
                                               "Times new policy weights were switched in", {"env"})
                                  ->WithLabels(env);
  a->episode_return_ =
      metrics
          ->AddHistogram("sac_actor_episode_return", "Return of finished episodes (unscaled)",
                         {-1000, -100, 0, 100, 250, 500, 750, 1000, 2000, 3000, 4000, 5000, 6000,
                          8000, 10000, 12000, 15000},
                         {"env"})
          ->WithLabels(env);
  a->episode_length_ =
      metrics
          ->AddHistogram("sac_actor_episode_length", "Length of finished episodes (steps)",
                         {10, 25, 50, 100, 200, 400, 600, 800, 999, 1000}, {"env"})
          ->WithLabels(env);
  a->recent_return_ = metrics
                          ->AddGauge("sac_actor_recent_episode_return",
                                     "Mean return of the last 20 finished episodes", {"env"})
                          ->WithLabels(env);
  a->policy_version_ = metrics
                           ->AddGauge("sac_actor_policy_version",
                                      "Policy version acting now (0: random actions)", {"env"})
                           ->WithLabels(env);
  a->policy_lag_ =
      metrics
          ->AddGauge("sac_actor_policy_lag",
                     "Newest version seen from the learner minus the acting one", {"env"})
          ->WithLabels(env);
  a->step_seconds_ =
      metrics
          ->AddHistogram("sac_actor_step_seconds", "Wall time of one batched step of all envs",
                         LatencyBuckets(), {"env"})
          ->WithLabels(env);
  a->inference_seconds_ =
      metrics
          ->AddHistogram("sac_actor_inference_seconds", "Wall time of one batched policy forward",
                         LatencyBuckets(), {"env"})
          ->WithLabels(env);
  a->watch_thread_ = std::thread([p = a.get()] { p->WatchPolicyLoop(); });
  return a;
}

Actor::~Actor() {
  stopping_.store(true);
  {
    absl::MutexLock lock(&mu_);
    if (watch_context_ != nullptr) static_cast<grpc::ClientContext*>(watch_context_)->TryCancel();
  }
  if (!watch_stop_.HasBeenNotified()) watch_stop_.Notify();
  if (watch_thread_.joinable()) watch_thread_.join();
}

void Actor::WatchPolicyLoop() {
  auto channel = MakeChannel(config_.learner_address(), config_.client(), 256 << 20);
  if (!channel.ok()) {
    SAC_LOG(ERROR) << "learner channel: " << channel.status();
    return;
  }
  auto stub = v1::PolicyService::NewStub(*channel);
  double backoff = config_.client().initial_backoff_seconds();
  while (!stopping_.load()) {
    grpc::ClientContext context;
    if (!token_.empty()) context.AddMetadata("authorization", "Bearer " + token_);
    {
      absl::MutexLock lock(&mu_);
      if (stopping_.load()) break;
      watch_context_ = &context;
    }
    v1::WatchPolicyRequest request;
    request.set_after_version(acting_version_.load());
    auto reader = stub->WatchPolicy(&context, request);
    v1::Policy policy;
    while (reader->Read(&policy)) {
      backoff = config_.client().initial_backoff_seconds();
      auto mlp = PolicyMlp::FromPolicy(policy);
      if (!mlp.ok()) {
        SAC_LOG(ERROR) << "policy version " << policy.metadata().version()
                       << " rejected: " << mlp.status();
        continue;
      }
      if ((*mlp)->obs_dim() != envs_->obs_dim() || (*mlp)->act_dim() != envs_->act_dim()) {
        SAC_LOG(ERROR) << "policy version " << policy.metadata().version() << " is for obs "
                       << (*mlp)->obs_dim() << " act " << (*mlp)->act_dim() << ", not this task";
        continue;
      }
      absl::MutexLock lock(&mu_);
      latest_seen_version_ = std::max(latest_seen_version_, policy.metadata().version());
      incoming_ = std::move(*mlp);
    }
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
    }
    if (stopping_.load()) break;
    SAC_LOG(WARNING) << "policy stream from " << config_.learner_address() << " ended ("
                     << status.error_message() << "); acting on with version "
                     << acting_version_.load() << ", retrying in " << backoff << " s";
    watch_stop_.WaitForNotificationWithTimeout(absl::Seconds(backoff));
    backoff = std::min(backoff * 2, config_.client().max_backoff_seconds());
  }
}

void Actor::AppendStep(uint64_t acted_version) {
  const int n = envs_->num_envs();
  auto prev = envs_->prev_observations();
  auto next = envs_->next_observations();
  obs_.insert(obs_.end(), prev.begin(), prev.end());
  next_obs_.insert(next_obs_.end(), next.begin(), next.end());
  action_.insert(action_.end(), actions_.begin(), actions_.end());
  auto r = envs_->rewards();
  reward_.insert(reward_.end(), r.begin(), r.end());
  for (int i = 0; i < n; ++i) {
    terminated_.push_back(static_cast<char>(envs_->terminated()[i]));
    truncated_.push_back(static_cast<char>(envs_->truncated()[i]));
    versions_.push_back(acted_version);
  }
  rows_ += n;
}

void Actor::RecordEpisodes() {
  const int n = envs_->num_envs();
  for (int i = 0; i < n; ++i) {
    if (!envs_->terminated()[i] && !envs_->truncated()[i]) continue;
    const double ret = envs_->episode_returns()[i];
    episodes_total_->Increment();
    episode_return_->Observe(ret);
    episode_length_->Observe(envs_->episode_lengths()[i]);
    absl::MutexLock lock(&mu_);
    ++episodes_;
    recent_returns_.push_back(ret);
    if (recent_returns_.size() > kRecentEpisodes) recent_returns_.pop_front();
    double mean = 0;
    for (double x : recent_returns_) mean += x / static_cast<double>(recent_returns_.size());
    recent_return_->Set(mean);
  }
}

absl::Status Actor::SendPending(bool flush, const absl::Notification* stop) {
  if (rows_ == 0 || (!flush && rows_ < static_cast<int>(config_.send_batch_rows()))) {
    return absl::OkStatus();
  }
  v1::TransitionBatch batch;
  const int od = envs_->obs_dim(), ad = envs_->act_dim();
  EncodeMatrix(obs_, rows_, od, batch.mutable_obs());
  EncodeMatrix(action_, rows_, ad, batch.mutable_action());
  EncodeVector(reward_, batch.mutable_reward());
  EncodeMatrix(next_obs_, rows_, od, batch.mutable_next_obs());
  batch.set_terminated(terminated_);
  batch.set_truncated(truncated_);
  batch.mutable_policy_version()->Assign(versions_.begin(), versions_.end());
  for (int i = 0; i < rows_; ++i) batch.add_actor_id(config_.actor_id());
  const int rows = rows_;
  obs_.clear();
  action_.clear();
  reward_.clear();
  next_obs_.clear();
  terminated_.clear();
  truncated_.clear();
  versions_.clear();
  rows_ = 0;
  // Round robin over the shards whose writer has room: a shard that is slow or
  // away (its writer holds max_unacked_batches unacknowledged) is skipped, so
  // the others keep getting data. When every writer is full we wait, which
  // bounds memory: the actor does not run ahead of what the shards take.
  const size_t n = writers_.size();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);  // only when stopping
  for (;;) {
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (next_writer_ + k) % n;
      auto seq = writers_[i]->Write(batch, absl::ZeroDuration());
      if (seq.ok()) {
        next_writer_ = (i + 1) % n;
        rows_sent_total_->Increment(rows);
        return absl::OkStatus();
      }
      if (seq.status().code() != absl::StatusCode::kDeadlineExceeded) return seq.status();
    }
    auto seq = writers_[next_writer_]->Write(batch, absl::Milliseconds(200));
    if (seq.ok()) {
      next_writer_ = (next_writer_ + 1) % n;
      rows_sent_total_->Increment(rows);
      return absl::OkStatus();
    }
    if (seq.status().code() != absl::StatusCode::kDeadlineExceeded) return seq.status();
    if (stopping_.load() ||
        (stop != nullptr && stop->HasBeenNotified() && (flush ? absl::Now() >= give_up : true))) {
      // Stopping while every shard is full or away: these rows are dropped
      // (never acknowledged, so nothing acknowledged is lost).
      SAC_LOG(WARNING) << "stopping with every replay writer full: " << rows
                       << " transitions not sent";
      return absl::OkStatus();
    }
  }
}

absl::Status Actor::Run(const absl::Notification& stop) {
  const int n = envs_->num_envs();
  const int ad = envs_->act_dim();
  actions_.resize(static_cast<size_t>(n) * ad);
  RETURN_IF_ERROR(envs_->Reset());
  std::vector<std::uniform_real_distribution<float>> uniform;
  uniform.reserve(ad);
  for (int j = 0; j < ad; ++j) {
    uniform.emplace_back(envs_->action_low()[j], envs_->action_high()[j]);
  }
  auto window_start = std::chrono::steady_clock::now();
  uint64_t window_steps = 0;
  while (!stop.HasBeenNotified()) {
    if (config_.max_env_steps() > 0 && env_steps_.load() >= config_.max_env_steps()) break;
    {
      absl::MutexLock lock(&mu_);
      if (incoming_) {
        policy_ = std::move(incoming_);
        acting_version_.store(policy_->version());
        policy_switches_total_->Increment();
      }
      policy_version_->Set(static_cast<double>(acting_version_.load()));
      policy_lag_->Set(static_cast<double>(latest_seen_version_ -
                                           std::min(latest_seen_version_, acting_version_.load())));
    }
    const auto t0 = std::chrono::steady_clock::now();
    // Version 0 marks uniform random actions, also while a policy is already here.
    uint64_t acted_version = 0;
    if (policy_ == nullptr || env_steps_.load() < config_.random_steps()) {
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < ad; ++j) actions_[static_cast<size_t>(i) * ad + j] = uniform[j](rng_);
      }
    } else {
      acted_version = policy_->version();
      auto obs = envs_->observations();
      policy_->Act(std::span<const float>(obs.data(), obs.size()), n, false, &rng_, actions_);
      inference_seconds_->Observe(Seconds(std::chrono::steady_clock::now() - t0));
    }
    RETURN_IF_ERROR(envs_->Step(actions_));
    step_seconds_->Observe(Seconds(std::chrono::steady_clock::now() - t0));
    AppendStep(acted_version);
    RecordEpisodes();
    env_steps_.fetch_add(n);
    steps_total_->Increment(n);
    window_steps += n;
    RETURN_IF_ERROR(SendPending(false, &stop));
    const double elapsed = Seconds(std::chrono::steady_clock::now() - window_start);
    if (elapsed >= 2.0) {
      absl::MutexLock lock(&mu_);
      steps_per_second_ = static_cast<double>(window_steps) / elapsed;
      window_steps = 0;
      window_start = std::chrono::steady_clock::now();
    }
  }
  RETURN_IF_ERROR(SendPending(true, &stop));
  for (auto& w : writers_) {
    absl::Status s = w->Close(absl::Seconds(10));
    if (!s.ok()) SAC_LOG(WARNING) << "closing a replay writer: " << s;
  }
  return absl::OkStatus();
}

void Actor::SetPolicy(std::unique_ptr<PolicyMlp> policy) {
  absl::MutexLock lock(&mu_);
  latest_seen_version_ = std::max(latest_seen_version_, policy->version());
  incoming_ = std::move(policy);
}

v1::ActorStatus Actor::Status() const {
  v1::ActorStatus s;
  s.set_actor_id(config_.actor_id());
  s.set_env_steps(env_steps_.load());
  s.set_policy_version(acting_version_.load());
  uint64_t acked = 0;
  for (const auto& w : writers_) acked += w->stats().acked_rows;
  s.set_transitions_acked(acked);
  *s.mutable_config() = config_;
  absl::MutexLock lock(&mu_);
  s.set_episodes(episodes_);
  double mean = 0;
  for (double x : recent_returns_) mean += x / static_cast<double>(recent_returns_.size());
  s.set_recent_return_mean(mean);
  s.set_env_steps_per_second(steps_per_second_);
  s.set_policy_lag(latest_seen_version_ - std::min(latest_seen_version_, acting_version_.load()));
  return s;
}

}  // namespace sac::actor
