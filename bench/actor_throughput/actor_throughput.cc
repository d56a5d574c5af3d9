// actor_throughput: env steps per second per core of one actor (sac-actor's
// Actor: EnvBatch stepping, batched policy inference, transitions sent to a real
// sac-replay shard over loopback with acks) on HalfCheetah-v5, beside the raw
// physics loop (frame_skip mj_step per env step, random controls, N mjData) in
// the same run. "Per core" = per CPU-second of this process (all its threads:
// the actor loop, gRPC's, the policy watcher); the shard is another process.
//
// Then the policy forward alone, per batch size: our OpenBLAS MLP (what the
// actor runs) beside LibTorch (torch::nn::Linear layers under InferenceMode,
// 1 thread), the measurement behind the actor not linking LibTorch.
//
// Flags: --num_envs=N (16) --seconds=S per measurement (3) --rounds=R (3)
//        --send_rows=R transitions per insert message (1024)
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "actor/actor.h"
#include "common/logging.h"
#include "common/subprocess.h"
#include "common/tensor_codec.h"
#include "envs/env.h"
#include "envs/models_dir.h"
#include "policy/policy_mlp.h"
#include "policy/policy_testing.h"

namespace {

double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

sac::v1::Policy RandomPolicy(int obs, int act, int hidden) {
  sac::v1::PolicyMetadata m;
  m.set_task("HalfCheetah-v5");
  m.set_obs_dim(obs);
  m.set_act_dim(act);
  m.add_hidden_sizes(hidden);
  m.add_hidden_sizes(hidden);
  m.set_activation("relu");
  m.set_version(1);
  m.set_log_std_min(-20);
  m.set_log_std_max(2);
  sac::EncodeVector(std::vector<float>(act, -1.f), m.mutable_action_low());
  sac::EncodeVector(std::vector<float>(act, 1.f), m.mutable_action_high());
  return sac::MakePolicyMessage(m, sac::UniformValues(0, 0.1f));
}

double RawPhysicsRate(int num_envs, double seconds) {
  auto task = sac::envs::LoadTask("HalfCheetah-v5", *sac::envs::DefaultModelsDir());
  if (!task.ok()) return 0;
  const mjModel* m = (*task)->model.get();
  std::vector<sac::envs::MjDataPtr> data;
  for (int e = 0; e < num_envs; ++e) {
    auto d = sac::envs::MakeData(m);
    mj_resetData(m, d->get());
    mj_forward(m, d->get());
    data.push_back(*std::move(d));
  }
  std::mt19937 gen(0);
  std::uniform_real_distribution<double> u(-1, 1);
  const int frame_skip = (*task)->spec().shape.frame_skip;
  int64_t steps = 0;
  const double t0 = CpuNow();
  while (CpuNow() - t0 < seconds) {
    for (int e = 0; e < num_envs; ++e, ++steps) {
      mjData* d = data[e].get();
      for (int a = 0; a < m->nu; ++a) d->ctrl[a] = u(gen);
      for (int k = 0; k < frame_skip; ++k) mj_step(m, d);
      if (steps / num_envs % 1000 == 999) {
        mj_resetData(m, d);
        mj_forward(m, d);
      }
    }
  }
  return steps / (CpuNow() - t0);
}

std::string BinDir(const char* argv0) {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  std::string self = n > 0 ? std::string(buf, n) : std::string(argv0);
  return self.substr(0, self.rfind('/')) + "/../bin";
}

}  // namespace

int main(int argc, char** argv) {
  int num_envs = 16, rounds = 3, send_rows = 1024;
  double seconds = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--num_envs=", 0) == 0) {
      absl::SimpleAtoi(a.substr(11), &num_envs);
    } else if (a.rfind("--seconds=", 0) == 0) {
      absl::SimpleAtod(a.substr(10), &seconds);
    } else if (a.rfind("--rounds=", 0) == 0) {
      absl::SimpleAtoi(a.substr(9), &rounds);
    } else if (a.rfind("--send_rows=", 0) == 0) {
      absl::SimpleAtoi(a.substr(12), &send_rows);
    } else {
      std::fprintf(stderr, "actor_throughput: unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  sac::SetMinLogLevel(sac::LogLevel::kWarning);
  const std::string dir = "/tmp/sac_actor_bench_" + std::to_string(getpid());
  mkdir(dir.c_str(), 0755);
  auto shard = sac::ChildProcess::Start(
      {BinDir(argv[0]) + "/sac-replay", "--task=HalfCheetah-v5", "--capacity=2000000",
       "--durability.enabled=false", "--rate_limiter.samples_per_insert=0",
       "--rate_limiter.min_size_to_sample=1", "--server.port_file=" + dir + "/port"},
      dir + "/replay.log");
  if (!shard.ok()) return 1;
  int port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    FILE* f = fopen((dir + "/port").c_str(), "r");
    if (f) {
      if (fscanf(f, "grpc=%d", &port) != 1) port = 0;
      fclose(f);
    }
    if (port == 0) usleep(20000);
  }
  if (port == 0) {
    std::fprintf(stderr, "actor_throughput: sac-replay did not start:\n%s\n",
                 (*shard)->ReadLog().c_str());
    return 1;
  }
  std::printf(
      "actor_throughput: HalfCheetah-v5, %d envs, policy 17-256-256-(6+6), "
      "steps per CPU-second, best of %d x %.1f s\n",
      num_envs, rounds, seconds);

  double best_actor = 0, best_raw = 0;
  for (int r = 0; r < rounds; ++r) {
    sac::v1::ActorConfig config;
    config.mutable_env()->set_task("HalfCheetah-v5");
    config.mutable_env()->set_num_envs(num_envs);
    config.mutable_env()->set_threads(1);
    config.add_replay_addresses("127.0.0.1:" + std::to_string(port));
    config.set_learner_address("127.0.0.1:1");
    config.set_random_steps(0);
    config.set_send_batch_rows(send_rows);
    config.set_max_unacked_batches(4);
    config.mutable_client()->set_initial_backoff_seconds(60);
    config.mutable_client()->set_max_backoff_seconds(60);
    sac::MetricsRegistry metrics;
    auto actor = sac::actor::Actor::Create(config, &metrics);
    if (!actor.ok()) {
      std::fprintf(stderr, "actor_throughput: %s\n", std::string(actor.status().message()).c_str());
      return 1;
    }
    (*actor)->SetPolicy(*sac::PolicyMlp::FromPolicy(RandomPolicy(17, 6, 256)));
    absl::Notification stop;
    const double t0 = CpuNow();
    std::thread runner([&] { (void)(*actor)->Run(stop); });
    // Measure a steady window after a warm-up.
    usleep(300000);
    const uint64_t s0 = (*actor)->Status().env_steps();
    const double c0 = CpuNow();
    usleep(static_cast<useconds_t>(seconds * 1e6));
    const uint64_t s1 = (*actor)->Status().env_steps();
    const double c1 = CpuNow();
    stop.Notify();
    runner.join();
    (void)t0;
    best_actor = std::max(best_actor, (s1 - s0) / (c1 - c0));
    best_raw = std::max(best_raw, RawPhysicsRate(num_envs, seconds));
  }
  std::printf("  actor (step + inference + send): %9.0f steps/s per core\n", best_actor);
  std::printf("  raw physics (mj_step x5)       : %9.0f steps/s per core\n", best_raw);
  std::printf("  ratio                          : %9.2fx (target >= 0.8x)\n",
              best_actor / best_raw);

  // The policy forward alone: OpenBLAS MLP vs LibTorch, per observation.
  std::printf("\npolicy forward, 17-256-256-(6+6), per observation (stochastic), 1 thread:\n");
  std::printf("  %6s %14s %14s\n", "batch", "ours (us)", "libtorch (us)");
  torch::set_num_threads(1);
  auto mlp = *sac::PolicyMlp::FromPolicy(RandomPolicy(17, 6, 256));
  torch::nn::Sequential net(torch::nn::Linear(17, 256), torch::nn::ReLU(),
                            torch::nn::Linear(256, 256), torch::nn::ReLU(),
                            torch::nn::Linear(256, 12));
  std::mt19937_64 rng(0);
  for (int batch : {1, 4, 16, 64, 256}) {
    std::vector<float> obs(static_cast<size_t>(batch) * 17, 0.1f),
        actions(static_cast<size_t>(batch) * 6);
    auto time_it = [&](auto fn) {
      double best = 1e9;
      for (int rep = 0; rep < 5; ++rep) {
        const int iters = std::max(20, 20000 / batch);
        const double t0 = CpuNow();
        for (int i = 0; i < iters; ++i) fn();
        best = std::min(best, (CpuNow() - t0) / iters / batch * 1e6);
      }
      return best;
    };
    const double ours = time_it([&] { mlp->Act(obs, batch, false, &rng, actions); });
    torch::Tensor x = torch::full({batch, 17}, 0.1f);
    const double theirs = time_it([&] {
      torch::InferenceMode guard;
      auto head = net->forward(x);
      auto mean = head.narrow(1, 0, 6);
      auto log_std = head.narrow(1, 6, 6).clamp(-20, 2);
      auto a = torch::tanh(mean + log_std.exp() * torch::randn_like(mean));
      (void)a.data_ptr<float>();
    });
    std::printf("  %6d %14.2f %14.2f\n", batch, ours, theirs);
  }
  (*shard)->Signal(SIGTERM);
  (*shard)->WaitForExit(absl::Seconds(10));
  return 0;
}
