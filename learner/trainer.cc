#include "learner/trainer.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "common/task_shape.h"
#include "common/tensor_codec.h"
#include "google/protobuf/text_format.h"
#include "learner/host_batch.h"

namespace sac::learner {
namespace {

// Checkpoint files in `dir`, newest (most updates) first.
std::vector<std::string> ListCheckpoints(const std::string& dir) {
  std::vector<std::pair<uint64_t, std::string>> found;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      uint64_t updates = 0;
      char tail[16] = {0};
      if (std::sscanf(e->d_name, "ckpt-%12" SCNu64 ".%8s", &updates, tail) == 2 &&
          std::string(tail) == "ckpt") {
        found.emplace_back(updates, dir + "/" + e->d_name);
      }
    }
    closedir(d);
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Sets the last evaluation's fields of a LearnerStatus or a LearnerProcessState
// (the same names in both).
template <typename Message>
void SetLastEval(double return_mean, double return_std, uint64_t env_steps, uint64_t version,
                 Message* m) {
  m->set_last_eval_return_mean(return_mean);
  m->set_last_eval_return_std(return_std);
  m->set_last_eval_env_steps(env_steps);
  m->set_last_eval_policy_version(version);
}

}  // namespace

std::string Trainer::CheckpointPath(const std::string& dir, uint64_t updates) {
  char name[64];
  std::snprintf(name, sizeof(name), "/ckpt-%012llu.ckpt", static_cast<unsigned long long>(updates));
  return dir + name;
}

std::string Trainer::VersionMarkPath(const std::string& run_dir) {
  return run_dir + "/policy_versions.txtpb";
}

uint64_t Trainer::VersionFloor() const {
  uint64_t floor = reserved_through_;
  for (const v1::SnapshotInfo& info : store_->ListSnapshots()) {
    floor = std::max<uint64_t>(floor, info.version());
  }
  return floor;
}

absl::Status Trainer::ReserveVersion(uint64_t version) {
  if (version <= reserved_through_) return absl::OkStatus();
  v1::PolicyVersionMark mark;
  mark.set_reserved_through(version + kVersionReserve - 1);
  std::string text;
  google::protobuf::TextFormat::PrintToString(mark, &text);
  RETURN_IF_ERROR(WriteFileAtomically(VersionMarkPath(config_.run_dir()), text));
  reserved_through_ = mark.reserved_through();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const v1::LearnerConfig& config,
                                                         MetricsRegistry* metrics) {
  std::unique_ptr<Trainer> t(new Trainer(config));
  ASSIGN_OR_RETURN(const TaskShape* shape, FindTaskShape(config.task()));
  LearnerOptions options;
  options.task = config.task();
  options.obs_dim = shape->obs_dim;
  options.act_dim = shape->act_dim;
  options.action_low = shape->ActionLow();
  options.action_high = shape->ActionHigh();
  options.device = config.device();
  options.threads = static_cast<int>(config.threads());
  options.seed = config.seed();
  ASSIGN_OR_RETURN(t->learner_, SacLearner::Create(config.sac(), options));

  replay::SamplerOptions sampler;
  sampler.addresses.assign(config.replay_addresses().begin(), config.replay_addresses().end());
  sampler.client = config.replay_client();
  sampler.seed = config.seed() + 1;
  sampler.obs_dim = t->learner_->options().obs_dim;
  sampler.act_dim = t->learner_->options().act_dim;
  ASSIGN_OR_RETURN(t->sampler_, replay::ReplaySampler::Create(sampler));

  RETURN_IF_ERROR(MakeDirs(config.run_dir()));
  t->checkpoint_dir_ = config.run_dir() + "/checkpoints";
  RETURN_IF_ERROR(MakeDirs(t->checkpoint_dir_));
  RETURN_IF_ERROR(MakeDirs(config.run_dir() + "/snapshots"));
  t->store_ = std::make_unique<PolicyStore>(config.run_dir() + "/snapshots", metrics);
  const std::vector<std::string> env = {config.task()};
  if (config.tensorboard().enabled()) {
    EventFileOptions events;
    events.dir = config.run_dir();
    events.errors_total =
        metrics
            ->AddCounter("sac_learner_tensorboard_errors_total",
                         "TensorBoard event file opens and writes that failed (not fatal)", {"env"})
            ->WithLabels(env);
    events.dropped_total =
        metrics
            ->AddCounter("sac_learner_tensorboard_dropped_events_total",
                         "TensorBoard events lost to failed writes or a full queue", {"env"})
            ->WithLabels(env);
    t->events_ = std::make_unique<EventFileWriter>(std::move(events));
    SAC_LOG(INFO) << "TensorBoard event files go to " << config.run_dir() << " every "
                  << config.tensorboard().interval_seconds() << " s (tensorboard --logdir "
                  << config.run_dir() << ")";
  }
  if (config.eval_every_env_steps() > 0) {
    ASSIGN_OR_RETURN(t->evaluator_,
                     Evaluator::Create(config.task(), static_cast<int>(config.eval_episodes()),
                                       config.seed() + 777, config.models_dir(),
                                       config.run_dir() + "/eval.csv", metrics, t->events_.get()));
  }

  t->updates_total_ =
      metrics->AddCounter("sac_learner_updates_total", "Gradient updates done", {"env"})
          ->WithLabels(env);
  t->sample_errors_total_ =
      metrics
          ->AddCounter("sac_learner_sample_errors_total",
                       "Failed samples from the replay shards (other than limiter waits)", {"env"})
          ->WithLabels(env);
  t->checkpoints_total_ =
      metrics->AddCounter("sac_learner_checkpoints_total", "Checkpoints written", {"env"})
          ->WithLabels(env);
  t->loss_ = metrics->AddGauge(
      "sac_learner_loss",
      "Loss of the last update: q1, q2, v (v1), policy, temperature (v2, learned)",
      {"env", "loss"});
  t->temperature_ =
      metrics->AddGauge("sac_learner_temperature", "Temperature alpha", {"env"})->WithLabels(env);
  t->entropy_ = metrics
                    ->AddGauge("sac_learner_entropy",
                               "Policy entropy estimate (-mean log pi) of the last batch", {"env"})
                    ->WithLabels(env);
  t->q_mean_ = metrics->AddGauge("sac_learner_q_mean", "Mean Q1 on the last batch", {"env"})
                   ->WithLabels(env);
  t->env_steps_gauge_ =
      metrics
          ->AddGauge("sac_learner_env_steps", "Env steps inserted into the shards, as they report",
                     {"env"})
          ->WithLabels(env);
  t->sample_seconds_ = metrics
                           ->AddHistogram("sac_learner_sample_seconds",
                                          "Time to sample one batch from the shards (incl. "
                                          "rate-limiter waits)",
                                          LatencyBuckets(), {"env"})
                           ->WithLabels(env);
  t->update_seconds_ = metrics
                           ->AddHistogram("sac_learner_update_seconds",
                                          "Time of one gradient update", LatencyBuckets(), {"env"})
                           ->WithLabels(env);
  RETURN_IF_ERROR(t->Resume());
  return t;
}

Trainer::~Trainer() = default;

uint64_t Trainer::updates() const { return updates_.load(); }

double Trainer::WallTime() const {
  return wall_time_before_ + absl::ToDoubleSeconds(absl::Now() - started_);
}

absl::Status Trainer::Resume() {
  const std::string mark_path = VersionMarkPath(config_.run_dir());
  if (absl::StatusOr<std::string> text = ReadWholeFile(mark_path); text.ok()) {
    v1::PolicyVersionMark mark;
    if (!google::protobuf::TextFormat::ParseFromString(*text, &mark)) {
      return absl::DataLossError(
          absl::StrCat(mark_path,
                       ": not a sac.v1.PolicyVersionMark (it guards policy version numbers "
                       "against reuse; restore it or, knowing the highest version published, "
                       "write `reserved_through: N`)"));
    }
    reserved_through_ = mark.reserved_through();
  } else if (!absl::IsNotFound(text.status())) {
    return text.status();
  }
  const uint64_t floor = VersionFloor();
  for (const std::string& path : ListCheckpoints(checkpoint_dir_)) {
    std::string extra;
    absl::Status s = learner_->LoadCheckpoint(path, &extra);
    v1::LearnerProcessState state;
    if (s.ok() && !state.ParseFromString(extra)) {
      s = absl::DataLossError("process state in the checkpoint is unreadable");
    }
    if (!s.ok()) {
      SAC_LOG(WARNING) << "skipping checkpoint " << path << ": " << s;
      continue;
    }
    {
      absl::MutexLock lock(&mu_);
      state_ = state;
    }
    wall_time_before_ = state.wall_time_seconds();
    updates_.store(learner_->updates());
    env_steps_.store(state.env_steps());
    SAC_LOG(INFO) << "resumed from " << path << ": " << learner_->updates() << " updates, policy v"
                  << state.policy_version() << ", " << state.env_steps() << " env steps";
    // Versions may have been published after this checkpoint: numbering goes on
    // above every version ever published, and the restored weights are
    // published as a new version (actors, which ask for newer versions, take it).
    if (floor > state.policy_version()) {
      SAC_LOG(INFO) << "policy versions continue above v" << floor << " (" << mark_path << ")";
    }
    {
      absl::MutexLock lock(&mu_);
      state_.set_policy_version(std::max(floor, state.policy_version()));
    }
    if (state.policy_version() > 0) RETURN_IF_ERROR(Publish());
    return absl::OkStatus();
  }
  SAC_LOG(INFO) << "no checkpoint in " << checkpoint_dir_ << ": starting from fresh weights"
                << (floor > 0 ? absl::StrCat("; policy versions continue above v", floor, " (",
                                             mark_path, ")")
                              : std::string());
  absl::MutexLock lock(&mu_);
  state_.set_policy_version(floor);
  return absl::OkStatus();
}

absl::Status Trainer::Publish(bool snapshot, bool for_evaluation) {
  auto policy = std::make_shared<v1::Policy>();
  *policy->mutable_metadata() = learner_->BaseMetadata();
  uint64_t version;
  {
    absl::MutexLock lock(&mu_);
    version = state_.policy_version() + 1;
    state_.set_policy_version(version);
    if (for_evaluation) eval_versions_.push_back(version);
  }
  auto* m = policy->mutable_metadata();
  m->set_version(version);
  m->set_env_steps(env_steps_.load());
  m->set_updates(learner_->updates());
  m->set_wall_time_seconds(WallTime());
  for (auto& t : learner_->PolicyTensors()) {
    auto* named = policy->add_tensors();
    named->set_name(t.name);
    EncodeTensor(t.values, t.shape, named->mutable_tensor());
  }
  RETURN_IF_ERROR(ReserveVersion(version));
  if (snapshot || version % config_.snapshot_every_versions() == 0 || version == 1) {
    const std::string path = store_->snapshot_dir() + "/" + PolicyStore::SnapshotFileName(version);
    RETURN_IF_ERROR(learner_->WritePolicySnapshot(path, *m));
    // The snapshots of the evaluated versions stay: the last finished
    // evaluation's (the version `sacctl local` names when a target is reached)
    // and those still being evaluated.
    std::vector<uint64_t> pinned;
    {
      const uint64_t finished = evaluator_ ? evaluator_->last().version : 0;
      absl::MutexLock lock(&mu_);
      std::erase_if(eval_versions_, [finished](uint64_t v) { return v < finished; });
      pinned = eval_versions_;
      pinned.push_back(state_.last_eval_policy_version());
    }
    store_->PruneSnapshots(config_.snapshot_retention(), pinned);
  }
  return store_->Publish(std::move(policy));
}

absl::Status Trainer::Checkpoint() {
  v1::LearnerProcessState state;
  {
    absl::MutexLock lock(&mu_);
    state_.set_env_steps(env_steps_.load());
    state_.set_wall_time_seconds(WallTime());
    if (evaluator_) {
      const EvalResult last = evaluator_->last();
      if (last.version > 0) {
        SetLastEval(last.return_mean, last.return_std, last.env_steps, last.version, &state_);
      }
    }
    state = state_;
  }
  const std::string path = CheckpointPath(checkpoint_dir_, learner_->updates());
  RETURN_IF_ERROR(learner_->SaveCheckpoint(path, state.SerializeAsString()));
  checkpoints_total_->Increment();
  const auto all = ListCheckpoints(checkpoint_dir_);
  for (size_t i = config_.checkpoint_retention(); i < all.size(); ++i) std::remove(all[i].c_str());
  SAC_LOG(INFO) << "checkpoint " << path;
  return absl::OkStatus();
}

void Trainer::WriteTrainingRecord(std::chrono::steady_clock::time_point now) {
  const uint64_t updates = learner_->updates();
  const uint64_t env_steps = env_steps_.load();
  RecordSums& r = record_;
  if (events_ && r.updates > 0) {
    const auto n = static_cast<double>(r.updates);
    const double dt = std::max(Seconds(now - r.start), 1e-9);
    const auto mean = [n](double sum) { return static_cast<float>(sum / n); };
    std::vector<Scalar> scalars = {{"loss/q1", mean(r.q1_loss)},
                                   {"loss/q2", mean(r.q2_loss)},
                                   {"loss/policy", mean(r.policy_loss)}};
    if (learner_->config().variant() == "v1") {
      scalars.push_back({"loss/v", mean(r.v_loss)});
    } else if (learner_->config().learn_temperature()) {
      scalars.push_back({"loss/temperature", mean(r.temperature_loss)});
    }
    const auto per_second = [dt](uint64_t delta) {
      return static_cast<float>(static_cast<double>(delta) / dt);
    };
    scalars.insert(scalars.end(),
                   {{"train/temperature", mean(r.temperature)},
                    {"train/entropy", mean(r.entropy)},
                    {"train/q1_mean", mean(r.q1_mean)},
                    {"train/updates", static_cast<float>(updates)},
                    {"throughput/updates_per_second", per_second(updates - r.start_updates)},
                    {"throughput/env_steps_per_second",
                     per_second(env_steps - std::min(env_steps, r.start_env_steps))}});
    events_->AddScalars(static_cast<int64_t>(env_steps), scalars);
  }
  r = RecordSums();
  r.start = now;
  r.start_updates = updates;
  r.start_env_steps = env_steps;
}

void Trainer::RefreshEnvSteps() {
  // A shard that is away counts with its last answer; one the sampler already
  // left out is not waited for (StatusEach answers for it at once).
  const auto status = sampler_->StatusEach(absl::Seconds(2));
  shard_inserts_.resize(status.size(), 0);
  uint64_t total = 0;
  for (size_t i = 0; i < status.size(); ++i) {
    if (status[i].ok()) shard_inserts_[i] = status[i]->inserts_total();
    total += shard_inserts_[i];
  }
  env_steps_.store(std::max(env_steps_.load(), total));
  env_steps_gauge_->Set(static_cast<double>(env_steps_.load()));
}

absl::Status Trainer::Run(const absl::Notification& stop) {
  const int batch_size = static_cast<int>(learner_->config().batch_size());
  auto last_refresh = std::chrono::steady_clock::now() - std::chrono::hours(1);
  auto last_checkpoint = std::chrono::steady_clock::now();
  auto rate_start = std::chrono::steady_clock::now();
  uint64_t rate_updates = learner_->updates();
  auto last_error_log = std::chrono::steady_clock::now() - std::chrono::hours(1);
  const std::vector<std::string> env = {config_.task()};
  RefreshEnvSteps();
  last_refresh = std::chrono::steady_clock::now();
  WriteTrainingRecord(last_refresh);  // starts the first interval
  const double record_interval = config_.tensorboard().interval_seconds();
  while (!stop.HasBeenNotified()) {
    if (config_.max_updates() > 0 && learner_->updates() >= config_.max_updates()) break;
    const auto now = std::chrono::steady_clock::now();
    if (Seconds(now - last_refresh) >= 1.0) {
      RefreshEnvSteps();
      // From the end of the call: a shard that makes it wait for its deadline
      // must not make the next one due at once.
      last_refresh = std::chrono::steady_clock::now();
      // Records go with the refresh, so that each has the env steps of now.
      if (Seconds(last_refresh - record_.start) >= record_interval) {
        WriteTrainingRecord(last_refresh);
      }
      absl::MutexLock lock(&mu_);
      const double dt = Seconds(now - rate_start);
      if (dt >= 2.0) {
        updates_per_second_ = static_cast<double>(learner_->updates() - rate_updates) / dt;
        rate_updates = learner_->updates();
        rate_start = now;
      }
    }
    if (evaluator_ && store_->latest_version() > 0) {
      uint64_t due;
      {
        absl::MutexLock lock(&mu_);
        due = state_.next_eval_env_steps();
      }
      const uint64_t steps = env_steps_.load();
      if (steps >= due) {
        // The evaluated policy is a version of its own with a snapshot on disk,
        // so the policy that reached a score can be pulled later by version.
        RETURN_IF_ERROR(Publish(/*snapshot=*/true, /*for_evaluation=*/true));
        evaluator_->Request(store_->Latest(), steps, learner_->updates(), WallTime());
        const uint64_t every = config_.eval_every_env_steps();
        absl::MutexLock lock(&mu_);
        state_.set_next_eval_env_steps((steps / every + 1) * every);
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto sample = sampler_->Sample(batch_size, absl::Seconds(1));
    if (!sample.ok() && replay::IsMalformedSampleAnswer(sample.status())) {
      // A shard's answer failed validation (the error names the shard and field).
      sample_errors_total_->Increment();
      SAC_LOG(ERROR) << "a shard returned a bad batch: " << sample.status();
      continue;
    }
    if (!sample.ok()) {
      if (sample.status().code() != absl::StatusCode::kDeadlineExceeded) {
        sample_errors_total_->Increment();
        if (Seconds(t0 - last_error_log) > 5) {
          SAC_LOG(WARNING) << "sampling: " << sample.status();
          last_error_log = t0;
        }
        stop.WaitForNotificationWithTimeout(absl::Milliseconds(200));
      }
      continue;
    }
    sample_seconds_->Observe(Seconds(std::chrono::steady_clock::now() - t0));
    const auto t1 = std::chrono::steady_clock::now();
    // The sampler validated the batch against the learner's sizes.
    ASSIGN_OR_RETURN(UpdateMetrics m, learner_->Update(HostBatchOf(sample->batch())));
    update_seconds_->Observe(Seconds(std::chrono::steady_clock::now() - t1));
    updates_total_->Increment();
    updates_.store(m.updates);
    loss_->WithLabels({config_.task(), "q1"})->Set(m.q1_loss);
    loss_->WithLabels({config_.task(), "q2"})->Set(m.q2_loss);
    loss_->WithLabels({config_.task(), "policy"})->Set(m.policy_loss);
    if (!std::isnan(m.v_loss)) loss_->WithLabels({config_.task(), "v"})->Set(m.v_loss);
    if (!std::isnan(m.temperature_loss)) {
      loss_->WithLabels({config_.task(), "temperature"})->Set(m.temperature_loss);
    }
    temperature_->Set(m.temperature);
    entropy_->Set(m.entropy);
    q_mean_->Set(m.q1_mean);
    record_.q1_loss += m.q1_loss;
    record_.q2_loss += m.q2_loss;
    record_.v_loss += m.v_loss;
    record_.policy_loss += m.policy_loss;
    record_.temperature_loss += m.temperature_loss;
    record_.temperature += m.temperature;
    record_.entropy += m.entropy;
    record_.q1_mean += m.q1_mean;
    ++record_.updates;
    {
      absl::MutexLock lock(&mu_);
      last_metrics_ = m;
    }
    if (m.updates % config_.publish_every_updates() == 0) RETURN_IF_ERROR(Publish());
    if (config_.checkpoint_interval_seconds() > 0 &&
        Seconds(std::chrono::steady_clock::now() - last_checkpoint) >=
            config_.checkpoint_interval_seconds()) {
      RETURN_IF_ERROR(Checkpoint());
      last_checkpoint = std::chrono::steady_clock::now();
    }
  }
  RefreshEnvSteps();
  WriteTrainingRecord(std::chrono::steady_clock::now());
  // The policy at stop is published and kept as a snapshot: what the run ends with.
  if (store_->latest_version() > 0 || learner_->updates() > 0) {
    RETURN_IF_ERROR(Publish(/*snapshot=*/true));
  }
  return Checkpoint();
}

v1::LearnerStatus Trainer::Status() const {
  v1::LearnerStatus s;
  s.set_updates(updates_.load());
  s.set_env_steps(env_steps_.load());
  s.set_policy_version(store_->latest_version());
  s.set_wall_time_seconds(WallTime());
  *s.mutable_config() = config_;
  if (evaluator_) {
    const EvalResult last = evaluator_->last();
    if (last.version > 0) {
      SetLastEval(last.return_mean, last.return_std, last.env_steps, last.version, &s);
    }
  }
  absl::MutexLock lock(&mu_);
  if (s.last_eval_env_steps() == 0 && state_.last_eval_env_steps() > 0) {
    SetLastEval(state_.last_eval_return_mean(), state_.last_eval_return_std(),
                state_.last_eval_env_steps(), state_.last_eval_policy_version(), &s);
  }
  s.set_updates_per_second(updates_per_second_);
  s.set_temperature(last_metrics_.temperature);
  s.set_q1_loss(last_metrics_.q1_loss);
  s.set_q2_loss(last_metrics_.q2_loss);
  s.set_v_loss(last_metrics_.v_loss);
  s.set_policy_loss(last_metrics_.policy_loss);
  s.set_entropy(last_metrics_.entropy);
  return s;
}

}  // namespace sac::learner
