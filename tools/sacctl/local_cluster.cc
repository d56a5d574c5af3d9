#include "tools/sacctl/local_cluster.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/status.h"
#include "tools/sacctl/clients.h"

namespace sac::sacctl {
namespace {

std::string Tail(const std::string& text, size_t lines) {
  if (text.empty()) return "(empty)";
  size_t pos = text.size();
  for (size_t n = 0; n <= lines && pos > 0; ++n) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

std::string Loopback(int port) { return absl::StrCat("127.0.0.1:", port); }

// Reads "grpc=<p> metrics=<q>" once the process serves.
absl::Status WaitForPorts(const std::string& port_file, ChildProcess* child, absl::Duration timeout,
                          int* grpc_port, int* metrics_port) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (!child->running()) return absl::InternalError("exited before serving");
    std::ifstream in(port_file);
    std::string g, m;
    if (in >> g >> m && std::sscanf(g.c_str(), "grpc=%d", grpc_port) == 1 &&
        std::sscanf(m.c_str(), "metrics=%d", metrics_port) == 1) {
      return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError("did not start serving in time");
}

std::string Human(double v) {
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e4) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

}  // namespace

std::string LocalCluster::AddressFile(const std::string& run_dir) {
  return run_dir + "/addresses.txt";
}

std::string LocalCluster::Process::address() const { return Loopback(grpc_port); }

absl::Status LocalCluster::StartProcess(Process* p) {
  const std::string& run = command_.run_dir();
  p->port_file = absl::StrCat(run, "/ports/", p->name);
  std::remove(p->port_file.c_str());
  // A restarted process takes its old ports again: the others know its address.
  std::vector<std::string> argv = {
      absl::StrCat(bin_dir_, "/", p->binary),
      absl::StrCat("--server.grpc_address=127.0.0.1:", p->grpc_port),
      absl::StrCat("--server.metrics_address=127.0.0.1:", p->metrics_port),
      "--server.port_file=" + p->port_file};
  argv.insert(argv.end(), p->args.begin(), p->args.end());
  const std::string log = absl::StrCat(run, "/logs/", p->name, ".log");
  // The learner's OpenMP threads must not spin while they share cores with the
  // shards and actors (measured: 10-100x slower updates on 2 loaded cores).
  std::vector<std::string> env;
  if (p->binary == "sac-learner") env.push_back("OMP_WAIT_POLICY=PASSIVE");
  ASSIGN_OR_RETURN(p->child, ChildProcess::Start(argv, log, env));
  absl::Status ready = WaitForPorts(p->port_file, p->child.get(), absl::Seconds(120), &p->grpc_port,
                                    &p->metrics_port);
  if (!ready.ok()) {
    return absl::InternalError(absl::StrCat(p->name, " ", ready.message(), "; the end of ", log,
                                            ":\n", Tail(p->child->ReadLog(), 15)));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::Restart(Process* p) {
  if (p->child && p->child->running()) {
    return absl::FailedPreconditionError(absl::StrCat(p->name, " is still running"));
  }
  return StartProcess(p);
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(const v1::LocalCommand& command,
                                                                  const std::string& bin_dir) {
  std::unique_ptr<LocalCluster> c(new LocalCluster(command));
  c->bin_dir_ = bin_dir;
  const std::string& run = command.run_dir();
  for (const std::string& dir : {run, run + "/ports", run + "/logs", run + "/learner"}) {
    RETURN_IF_ERROR(MakeDirs(dir));
  }
  const uint32_t S = command.shards();
  const uint32_t A = command.actors();
  const auto per = [](uint64_t total, uint32_t n) {
    return std::max<uint64_t>(1, (total + n - 1) / n);
  };
  std::vector<std::string> shard_addresses;
  c->shards_.resize(S);
  for (uint32_t i = 0; i < S; ++i) {
    std::vector<std::string> args = {
        absl::StrCat("--shard_index=", i),
        "--task=" + command.task(),
        absl::StrCat("--capacity=", per(command.replay_capacity(), S)),
        absl::StrCat("--rate_limiter.min_size_to_sample=", per(command.min_replay_size(), S)),
        absl::StrCat("--rate_limiter.samples_per_insert=", command.samples_per_insert()),
        absl::StrCat(
            "--rate_limiter.error_buffer=",
            command.samples_per_insert() * static_cast<double>(command.limiter_tolerance_rows())),
        absl::StrCat("--durability.enabled=", command.durability() ? "true" : "false"),
        absl::StrCat("--durability.data_dir=", run, "/replay-", i),
        absl::StrCat("--seed=", command.seed() * 1000 + i)};
    for (const auto& f : command.replay_flag()) args.push_back(f);
    c->shards_[i] = {absl::StrCat("replay-", i), "sac-replay", std::move(args)};
    RETURN_IF_ERROR(c->StartProcess(&c->shards_[i]));
    shard_addresses.push_back(Loopback(c->shards_[i].grpc_port));
  }
  const std::string replay_list = absl::StrJoin(shard_addresses, ",");
  {
    std::vector<std::string> args = {
        "--task=" + command.task(),
        "--sac.variant=" + command.variant(),
        "--replay_addresses=" + replay_list,
        "--run_dir=" + run + "/learner",
        absl::StrCat("--seed=", command.seed()),
        absl::StrCat("--threads=", command.learner_threads()),
        "--device=" + command.device(),
        absl::StrCat("--eval_every_env_steps=", command.eval_every_env_steps()),
        absl::StrCat("--eval_episodes=", command.eval_episodes())};
    if (command.hidden_sizes_size() > 0) {
      args.push_back("--sac.hidden_sizes=" + absl::StrJoin(command.hidden_sizes(), ","));
    }
    for (const auto& f : command.learner_flag()) args.push_back(f);
    c->learner_ = {"learner", "sac-learner", std::move(args)};
    RETURN_IF_ERROR(c->StartProcess(&c->learner_));
  }
  c->actors_.resize(A);
  for (uint32_t i = 0; i < A; ++i) {
    std::vector<std::string> args = {
        absl::StrCat("--actor_id=", i),
        "--env.task=" + command.task(),
        absl::StrCat("--env.num_envs=", command.envs_per_actor()),
        absl::StrCat("--env.seed=",
                     command.seed() * 100000 + uint64_t{i} * command.envs_per_actor()),
        "--replay_addresses=" + replay_list,
        "--learner_address=" + Loopback(c->learner_.grpc_port),
        absl::StrCat("--random_steps=", per(command.random_steps(), A))};
    for (const auto& f : command.actor_flag()) args.push_back(f);
    c->actors_[i] = {absl::StrCat("actor-", i), "sac-actor", std::move(args)};
    RETURN_IF_ERROR(c->StartProcess(&c->actors_[i]));
  }
  std::string addresses = absl::StrCat("learner=", Loopback(c->learner_.grpc_port),
                                       " metrics=", c->learner_.metrics_port, "\n");
  for (const auto& p : c->shards_) {
    absl::StrAppend(&addresses, "replay=", Loopback(p.grpc_port), " metrics=", p.metrics_port,
                    "\n");
  }
  for (const auto& p : c->actors_) {
    absl::StrAppend(&addresses, "actor=", Loopback(p.grpc_port), " metrics=", p.metrics_port, "\n");
  }
  // Whole or absent: `sacctl status --run_dir` may read it at any moment.
  RETURN_IF_ERROR(WriteFileAtomically(AddressFile(run), addresses));
  return c;
}

absl::Status LocalCluster::CheckAlive() {
  auto check = [](Process& p) -> absl::Status {
    if (p.child && !p.child->running()) {
      return absl::InternalError(absl::StrCat(p.name, " exited unexpectedly; the end of its log (",
                                              p.child->log_path(), "):\n",
                                              Tail(p.child->ReadLog(), 15)));
    }
    return absl::OkStatus();
  };
  for (auto& p : shards_) RETURN_IF_ERROR(check(p));
  RETURN_IF_ERROR(check(learner_));
  for (auto& p : actors_) RETURN_IF_ERROR(check(p));
  return absl::OkStatus();
}

std::string LocalCluster::ProgressLine(const v1::LearnerStatus& learner,
                                       const std::vector<v1::ActorStatus>& actors,
                                       double steps_per_second, double updates_per_second) const {
  double ret = 0, lag = 0;
  int with_return = 0;
  for (const auto& a : actors) {
    if (a.episodes() > 0) {
      ret += a.recent_return_mean();
      ++with_return;
    }
    lag += static_cast<double>(a.policy_lag());
  }
  std::string line = absl::StrFormat(
      "steps %s | updates %s | return %s | %s steps/s | %s upd/s | policy v%d | lag %.1f",
      Human(static_cast<double>(learner.env_steps())),
      Human(static_cast<double>(learner.updates())),
      with_return ? absl::StrFormat("%.1f", ret / with_return) : std::string("-"),
      Human(steps_per_second), Human(updates_per_second), learner.policy_version(),
      actors.empty() ? 0.0 : lag / static_cast<double>(actors.size()));
  if (learner.last_eval_env_steps() > 0) {
    absl::StrAppend(&line,
                    absl::StrFormat(" | eval %.1f @ %s", learner.last_eval_return_mean(),
                                    Human(static_cast<double>(learner.last_eval_env_steps()))));
  }
  return line;
}

absl::StatusOr<LocalOutcome> LocalCluster::Run(const ShutdownSignal& shutdown) {
  ClientOptions client;
  client.timeout = absl::Seconds(5);
  const bool tty = isatty(STDOUT_FILENO) && !command_.plain_progress();
  const absl::Duration interval = absl::Seconds(command_.progress_interval_seconds());
  // The learner is asked for its status twice a second (or each interval when
  // that is shorter), so training stops within half a second of an evaluation
  // reaching the target, whatever the progress interval: the policy saved at
  // stop is then close to the one evaluated (a longer wait let InvertedPendulum
  // policies drift off the target in the updates after it). The actors are
  // asked, and the progress line printed, once per interval.
  const absl::Duration poll = std::min(interval, absl::Milliseconds(500));
  uint64_t last_steps = 0, last_updates = 0;
  // With a budget: the evaluation the learner starts when the env steps cross
  // the last evaluation point within the budget is waited for (up to
  // kFinalEvalWait), so that a run's curve ends at its budget (stopping at once
  // cancelled it whenever it was still running).
  constexpr absl::Duration kFinalEvalWait = absl::Minutes(5);
  const uint64_t eval_every = command_.eval_every_env_steps();
  const uint64_t final_eval =
      eval_every > 0 ? command_.max_env_steps() / eval_every * eval_every : 0;
  absl::Time budget_since = absl::InfiniteFuture();
  absl::Time last_time = absl::Now();
  absl::Time next_line = last_time + interval;
  bool have_last = false;
  while (!shutdown.WaitFor(poll)) {
    RETURN_IF_ERROR(CheckAlive());
    auto learner = GetLearnerStatus(Loopback(learner_.grpc_port), client);
    if (!learner.ok()) continue;  // busy or starting: try again at the next poll
    const absl::Time now = absl::Now();
    const bool target = !std::isnan(command_.target_return()) &&
                        learner->last_eval_env_steps() > 0 &&
                        learner->last_eval_return_mean() >= command_.target_return();
    const bool spent =
        command_.max_env_steps() > 0 && learner->env_steps() >= command_.max_env_steps();
    const bool evaluated = final_eval == 0 || learner->last_eval_env_steps() >= final_eval;
    if (spent && budget_since == absl::InfiniteFuture()) {
      budget_since = now;
      if (!evaluated) {
        if (tty) std::printf("\n");
        std::printf("env-step budget spent; waiting for the evaluation at %llu env steps\n",
                    static_cast<unsigned long long>(final_eval));
      }
    }
    const bool budget = spent && (evaluated || now - budget_since >= kFinalEvalWait);
    if (now >= next_line || target || budget) {
      next_line = now + interval;
      std::vector<v1::ActorStatus> actors;
      for (const auto& a : actors_) {
        auto s = GetActorStatus(Loopback(a.grpc_port), client);
        if (s.ok()) actors.push_back(*s);
      }
      const double dt = absl::ToDoubleSeconds(now - last_time);
      double sps = 0, ups = 0;
      if (have_last && dt > 0) {
        sps =
            static_cast<double>(learner->env_steps() - std::min(learner->env_steps(), last_steps)) /
            dt;
        ups = static_cast<double>(learner->updates() - std::min(learner->updates(), last_updates)) /
              dt;
      }
      last_steps = learner->env_steps();
      last_updates = learner->updates();
      last_time = now;
      have_last = true;
      const std::string line = ProgressLine(*learner, actors, sps, ups);
      if (tty) {
        std::printf("\r\033[K%s", line.c_str());
      } else {
        std::printf("%s\n", line.c_str());
      }
      std::fflush(stdout);
    }
    if (target) {
      if (tty) std::printf("\n");
      std::printf(
          "target reached: evaluation return %.1f >= %.1f at %llu env steps (policy "
          "version %llu)\n",
          learner->last_eval_return_mean(), command_.target_return(),
          static_cast<unsigned long long>(learner->last_eval_env_steps()),
          static_cast<unsigned long long>(learner->last_eval_policy_version()));
      return LocalOutcome::kTargetReached;
    }
    if (budget) {
      if (tty) std::printf("\n");
      if (!evaluated) {
        std::printf("the evaluation at %llu env steps did not finish within %s\n",
                    static_cast<unsigned long long>(final_eval),
                    absl::FormatDuration(kFinalEvalWait).c_str());
      }
      std::printf("env-step budget spent: %llu >= %llu\n",
                  static_cast<unsigned long long>(learner->env_steps()),
                  static_cast<unsigned long long>(command_.max_env_steps()));
      return LocalOutcome::kBudgetSpent;
    }
  }
  if (tty) std::printf("\n");
  return LocalOutcome::kInterrupted;
}

void LocalCluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  auto stop_group = [](const std::vector<Process*>& group, absl::Duration timeout) {
    for (Process* p : group) {
      if (p->child) p->child->Signal(SIGTERM);
    }
    for (Process* p : group) {
      if (!p->child) continue;
      if (!p->child->WaitForExit(timeout)) {
        SAC_LOG(WARNING) << p->name << " did not stop in time; killing it";
        p->child->Signal(SIGKILL);
        p->child->WaitForExit(absl::Seconds(10));
      }
    }
  };
  std::vector<Process*> actors, learner = {&learner_}, shards;
  for (auto& p : actors_) actors.push_back(&p);
  for (auto& p : shards_) shards.push_back(&p);
  stop_group(actors, absl::Seconds(30));
  stop_group(learner, absl::Seconds(120));  // it writes a checkpoint
  stop_group(shards, absl::Seconds(120));   // they write a snapshot
}

LocalCluster::~LocalCluster() { Stop(); }

}  // namespace sac::sacctl
