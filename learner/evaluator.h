// Evaluator: deterministic evaluation of published policies, off the update
// thread. The learner hands it a policy version; a thread of its own runs N
// episodes with the mean action and N with sampled actions (the training
// policy) on its own EnvBatch, and appends a row to the evaluation log
// (CSV, `<run_dir>/eval.csv`):
//   env_steps,updates,wall_time_seconds,policy_version,eval_return_mean,
//   eval_return_std,eval_episodes,train_return_mean,train_return_std
// and, when given an EventFileWriter, the TensorBoard scalars eval/return_mean,
// eval/return_std, eval/train_return_mean and eval/train_return_std at step
// env_steps (the row's values). A request made while one runs replaces the
// waiting one (only the newest policy is worth evaluating).
#ifndef SAC_LEARNER_EVALUATOR_H_
#define SAC_LEARNER_EVALUATOR_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "learner/event_file_writer.h"
#include "sac/v1/policy.pb.h"

namespace sac::learner {

struct EvalResult {
  uint64_t env_steps = 0;
  uint64_t updates = 0;
  uint64_t version = 0;
  double return_mean = 0, return_std = 0;
  double train_return_mean = 0, train_return_std = 0;
};

class Evaluator {
 public:
  static absl::StatusOr<std::unique_ptr<Evaluator>> Create(
      const std::string& task, int episodes, uint64_t seed, const std::string& models_dir,
      const std::string& csv_path, MetricsRegistry* metrics, EventFileWriter* events = nullptr);
  ~Evaluator();  // finishes the running evaluation, drops a waiting one

  void Request(std::shared_ptr<const v1::Policy> policy, uint64_t env_steps, uint64_t updates,
               double wall_time_seconds) ABSL_LOCKS_EXCLUDED(mu_);
  // The newest finished evaluation (version 0: none yet).
  EvalResult last() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no evaluation runs or waits (tests, shutdown).
  void WaitIdle() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Job {
    std::shared_ptr<const v1::Policy> policy;
    uint64_t env_steps = 0, updates = 0;
    double wall_time_seconds = 0;
  };
  Evaluator() = default;
  void Loop();
  absl::StatusOr<EvalResult> Evaluate(const Job& job);

  std::string task_, models_dir_, csv_path_;
  int episodes_ = 10;
  uint64_t seed_ = 0;
  mutable absl::Mutex mu_;
  std::unique_ptr<Job> pending_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  EvalResult last_ ABSL_GUARDED_BY(mu_);
  Gauge* return_gauge_ = nullptr;
  Gauge* train_return_gauge_ = nullptr;
  EventFileWriter* events_ = nullptr;  // may be null; not owned, outlives this
  std::thread thread_;
};

}  // namespace sac::learner

#endif  // SAC_LEARNER_EVALUATOR_H_
