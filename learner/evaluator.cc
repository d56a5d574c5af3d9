#include "learner/evaluator.h"

#include <cmath>
#include <fstream>
#include <random>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/status.h"
#include "envs/env_batch.h"
#include "policy/episodes.h"
#include "policy/policy_mlp.h"

namespace sac::learner {

absl::StatusOr<std::unique_ptr<Evaluator>> Evaluator::Create(
    const std::string& task, int episodes, uint64_t seed, const std::string& models_dir,
    const std::string& csv_path, MetricsRegistry* metrics, EventFileWriter* events) {
  // Fail now, not in the thread, on an unknown task or missing models.
  ASSIGN_OR_RETURN(auto probe, envs::EnvBatch::Create(task, 1, seed, models_dir));
  std::unique_ptr<Evaluator> e(new Evaluator());
  e->task_ = task;
  e->episodes_ = episodes;
  e->seed_ = seed;
  e->models_dir_ = models_dir;
  e->csv_path_ = csv_path;
  e->events_ = events;
  std::ifstream existing(csv_path);
  if (!existing.good() || existing.peek() == std::ifstream::traits_type::eof()) {
    std::ofstream out(csv_path, std::ios::trunc);
    out << "env_steps,updates,wall_time_seconds,policy_version,eval_return_mean,"
           "eval_return_std,eval_episodes,train_return_mean,train_return_std\n";
    if (!out) return absl::InternalError("cannot write " + csv_path);
  }
  e->return_gauge_ = metrics
                         ->AddGauge("sac_learner_eval_return",
                                    "Mean return of the last deterministic evaluation", {"env"})
                         ->WithLabels({task});
  e->train_return_gauge_ =
      metrics
          ->AddGauge("sac_learner_eval_train_return",
                     "Mean return of the last evaluation with sampled (training) actions", {"env"})
          ->WithLabels({task});
  e->thread_ = std::thread([p = e.get()] { p->Loop(); });
  return e;
}

Evaluator::~Evaluator() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    pending_.reset();
  }
  thread_.join();
}

void Evaluator::Request(std::shared_ptr<const v1::Policy> policy, uint64_t env_steps,
                        uint64_t updates, double wall_time_seconds) {
  auto job = std::make_unique<Job>();
  job->policy = std::move(policy);
  job->env_steps = env_steps;
  job->updates = updates;
  job->wall_time_seconds = wall_time_seconds;
  absl::MutexLock lock(&mu_);
  pending_ = std::move(job);
}

EvalResult Evaluator::last() const {
  absl::MutexLock lock(&mu_);
  return last_;
}

void Evaluator::WaitIdle() const {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !busy_ && !pending_; };
  mu_.Await(absl::Condition(&idle));
}

void Evaluator::Loop() {
  while (true) {
    std::unique_ptr<Job> job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || pending_; };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
      job = std::move(pending_);
      busy_ = true;
    }
    auto result = Evaluate(*job);
    absl::MutexLock lock(&mu_);
    busy_ = false;
    if (!result.ok()) {
      SAC_LOG(ERROR) << "evaluation of policy version " << job->policy->metadata().version()
                     << " failed: " << result.status();
      continue;
    }
    last_ = *result;
    return_gauge_->Set(result->return_mean);
    train_return_gauge_->Set(result->train_return_mean);
    std::ofstream out(csv_path_, std::ios::app);
    out << absl::StrFormat("%d,%d,%.3f,%d,%.6g,%.6g,%d,%.6g,%.6g\n", result->env_steps,
                           result->updates, job->wall_time_seconds, result->version,
                           result->return_mean, result->return_std, episodes_,
                           result->train_return_mean, result->train_return_std);
    if (events_ != nullptr) {
      const std::vector<Scalar> scalars = {
          {"eval/return_mean", static_cast<float>(result->return_mean)},
          {"eval/return_std", static_cast<float>(result->return_std)},
          {"eval/train_return_mean", static_cast<float>(result->train_return_mean)},
          {"eval/train_return_std", static_cast<float>(result->train_return_std)}};
      events_->AddScalars(static_cast<int64_t>(result->env_steps), scalars);
    }
    SAC_LOG(INFO) << absl::StrFormat(
        "evaluation at %d env steps (policy v%d): return %.1f +- %.1f (training policy %.1f)",
        result->env_steps, result->version, result->return_mean, result->return_std,
        result->train_return_mean);
  }
}

absl::StatusOr<EvalResult> Evaluator::Evaluate(const Job& job) {
  ASSIGN_OR_RETURN(auto policy, PolicyMlp::FromPolicy(*job.policy));
  EvalResult result;
  result.env_steps = job.env_steps;
  result.updates = job.updates;
  result.version = job.policy->metadata().version();
  const EpisodeHook stop_check = [this](const EpisodeStep&) -> absl::Status {
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::CancelledError("evaluator stopping");
    return absl::OkStatus();
  };
  for (const bool deterministic : {true, false}) {
    // The same start states for every evaluation: seeds fixed by the run's seed.
    ASSIGN_OR_RETURN(
        auto batch,
        envs::EnvBatch::Create(task_, episodes_, seed_ + (deterministic ? 0 : 50000), models_dir_));
    std::mt19937_64 rng(seed_);
    ASSIGN_OR_RETURN(std::vector<double> returns,
                     RunEpisodes(*batch, *policy, deterministic, rng, stop_check));
    const ReturnStats stats = SummarizeReturns(returns);
    if (deterministic) {
      result.return_mean = stats.mean;
      result.return_std = stats.std;
    } else {
      result.train_return_mean = stats.mean;
      result.train_return_std = stats.std;
    }
  }
  return result;
}

}  // namespace sac::learner
