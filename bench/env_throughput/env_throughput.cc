// env_throughput: env steps per second per core, for each task, of EnvBatch beside
// a raw MuJoCo loop on the same model (frame_skip mj_step per env step, random
// controls, nothing else; "raw mj_step": one mjData, reset every 1000 steps;
// "raw same-ep": N mjData reset where the EnvBatch run's episodes ended, so both
// simulate the same mix of states), measured alternately in the same run; then the
// reference figures of Gymnasium (one env) and EnvPool (one thread, if its venv
// exists: setup_envpool_venv.sh), run by gym_throughput.py on the same machine.
//
// Flags: --tasks=A,B (default: all nine) --seconds=S per measurement (0.25)
//        --rounds=R alternations, best kept (8) --num_envs=N of the batch (8)
//        --threads=T of the batch (1: per core) --models_dir=DIR
//        --python=PATH (the venv's) --envpool_python=PATH (empty: skip)
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "envs/env.h"
#include "envs/env_batch.h"
#include "envs/models_dir.h"

namespace {

// Time is the process's CPU time (all its threads): "per core" figures that do
// not count the time other processes on this shared machine take from us. The
// Python references measure the same way (time.process_time).
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
  }
};

struct Flags {
  std::vector<std::string> tasks = sac::envs::KnownTaskNames();
  double seconds = 0.25;
  int rounds = 8;
  int num_envs = 8;
  int threads = 1;
  std::string models_dir;
  std::string python = SAC_PYTHON;
  std::string envpool_python = "/var/cache/sac-cluster/venv-envpool/bin/python";
};

double Elapsed(Clock::time_point t0) { return Clock::now() - t0; }

// Raw physics: one mjData, random controls within ctrlrange, frame_skip mj_step
// per env step, mj_resetData + mj_forward every 1000 env steps (the time limit).
double RawRate(const sac::envs::LoadedTask& task, double seconds) {
  const mjModel* m = task.model.get();
  auto data = sac::envs::MakeData(m);
  if (!data.ok()) return 0;
  mjData* d = data->get();
  std::mt19937 gen(0);
  std::vector<double> ctrl(4096 * m->nu);
  for (size_t j = 0; j < ctrl.size(); ++j) {
    const size_t a = j % m->nu;
    std::uniform_real_distribution<double> u(m->actuator_ctrlrange[2 * a],
                                             m->actuator_ctrlrange[2 * a + 1]);
    ctrl[j] = u(gen);
  }
  mj_resetData(m, d);
  mj_forward(m, d);
  const int frame_skip = task.spec().shape.frame_skip;
  int64_t steps = 0;
  const auto t0 = Clock::now();
  while (true) {
    for (int i = 0; i < 64; ++i, ++steps) {
      const double* c = ctrl.data() + (steps % 4096) * m->nu;
      std::copy(c, c + m->nu, d->ctrl);
      for (int k = 0; k < frame_skip; ++k) mj_step(m, d);
      if (steps % 1000 == 999) {
        mj_resetData(m, d);
        mj_forward(m, d);
      }
    }
    const double t = Elapsed(t0);
    if (t >= seconds) return steps / t;
  }
}

// EnvBatch: Step on pre-drawn [N, act_dim] blocks within the bounds. Appends
// each call's episode ends (terminated or truncated, [N] per call) to `ends`.
double BatchRate(sac::envs::EnvBatch& batch, double seconds, std::vector<uint8_t>* ends) {
  std::mt19937 gen(1);
  const size_t block = static_cast<size_t>(batch.num_envs()) * batch.act_dim();
  std::vector<float> actions(64 * block);
  for (size_t j = 0; j < actions.size(); ++j) {
    const int a = static_cast<int>(j % batch.act_dim());
    std::uniform_real_distribution<float> u(batch.action_low()[a], batch.action_high()[a]);
    actions[j] = u(gen);
  }
  if (!batch.Reset().ok()) return 0;
  int64_t steps = 0;
  int64_t calls = 0;
  const auto t0 = Clock::now();
  while (true) {
    for (int i = 0; i < 8; ++i, ++calls) {
      absl::Span<const float> a(actions.data() + (calls % 64) * block, block);
      if (!batch.Step(a).ok()) return 0;
      steps += batch.num_envs();
      for (int e = 0; e < batch.num_envs(); ++e) {
        ends->push_back(batch.terminated()[e] | batch.truncated()[e]);
      }
    }
    const double t = Elapsed(t0);
    if (t >= seconds) return steps / t;
  }
}

// Raw physics on the same episodes as an EnvBatch run: N mjData stepped in
// turn (frame_skip mj_step each, random controls), with mj_resetData + mj_forward
// (and the task's reset noise) wherever the batch's episode ended (`ends`, as
// BatchRate recorded it). Both
// then simulate the same mix of fresh and fallen states, which the plain raw loop
// does not (it never resets a fallen Hopper).
double RawSameEpisodesRate(const sac::envs::LoadedTask& task, int num_envs,
                           const std::vector<uint8_t>& ends) {
  const mjModel* m = task.model.get();
  std::vector<sac::envs::MjDataPtr> data;
  for (int e = 0; e < num_envs; ++e) {
    auto d = sac::envs::MakeData(m);
    if (!d.ok()) return 0;
    mj_resetData(m, d->get());
    mj_forward(m, d->get());
    data.push_back(*std::move(d));
  }
  std::mt19937 gen(0);
  std::vector<double> ctrl(4096 * m->nu);
  for (size_t j = 0; j < ctrl.size(); ++j) {
    const size_t a = j % m->nu;
    std::uniform_real_distribution<double> u(m->actuator_ctrlrange[2 * a],
                                             m->actuator_ctrlrange[2 * a + 1]);
    ctrl[j] = u(gen);
  }
  const int frame_skip = task.spec().shape.frame_skip;
  sac::envs::EnvRandom rng(7);
  const auto t0 = Clock::now();
  for (size_t s = 0; s < ends.size(); ++s) {
    mjData* d = data[s % num_envs].get();
    const double* c = ctrl.data() + (s % 4096) * m->nu;
    std::copy(c, c + m->nu, d->ctrl);
    for (int k = 0; k < frame_skip; ++k) mj_step(m, d);
    if (ends[s]) {  // the same reset as the env's: noise, then mj_forward
      mj_resetData(m, d);
      task.task->SampleResetState(m, rng, d->qpos, d->qvel);
      mj_forward(m, d);
    }
  }
  return ends.size() / Elapsed(t0);
}

// Runs gym_throughput.py; returns task -> "<rate>" (or the error text).
std::map<std::string, std::string> Reference(const std::string& python, const std::string& impl,
                                             const Flags& flags) {
  std::map<std::string, std::string> out;
  std::string cmd = absl::StrCat("'", python, "' '", SAC_ENV_BENCH_SCRIPT, "' ", impl, " ",
                                 std::max(1.0, flags.seconds * flags.rounds / 2));
  for (const std::string& t : flags.tasks) absl::StrAppend(&cmd, " ", t);
  absl::StrAppend(&cmd, " 2>/dev/null");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char line[1024];
  while (fgets(line, sizeof(line), pipe) != nullptr) {
    std::vector<std::string> parts =
        absl::StrSplit(absl::string_view(line), absl::MaxSplits(' ', 2));
    if (parts.size() == 3 && parts[0] == impl) {
      std::string v = parts[2];
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
      out[parts[1]] = v;
    }
  }
  pclose(pipe);
  return out;
}

bool Exists(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::pair<std::string, std::string> kv = absl::StrSplit(argv[i], absl::MaxSplits('=', 1));
    bool ok = true;
    if (kv.first == "--tasks") {
      flags.tasks = absl::StrSplit(kv.second, ',', absl::SkipEmpty());
    } else if (kv.first == "--seconds") {
      ok = absl::SimpleAtod(kv.second, &flags.seconds);
    } else if (kv.first == "--rounds") {
      ok = absl::SimpleAtoi(kv.second, &flags.rounds);
    } else if (kv.first == "--num_envs") {
      ok = absl::SimpleAtoi(kv.second, &flags.num_envs);
    } else if (kv.first == "--threads") {
      ok = absl::SimpleAtoi(kv.second, &flags.threads);
    } else if (kv.first == "--models_dir") {
      flags.models_dir = kv.second;
    } else if (kv.first == "--python") {
      flags.python = kv.second;
    } else if (kv.first == "--envpool_python") {
      flags.envpool_python = kv.second;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "env_throughput: bad flag %s (see the top of env_throughput.cc)\n",
                   argv[i]);
      return 2;
    }
  }
  auto dir = sac::envs::ResolveModelsDir(flags.models_dir);
  if (!dir.ok()) {
    std::fprintf(stderr, "%s\n", dir.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "env_throughput: MuJoCo %s, EnvBatch of %d envs on %d thread(s), best of %d x %.2f s CPU\n",
      sac::envs::MujocoVersion().c_str(), flags.num_envs, flags.threads, flags.rounds,
      flags.seconds);
  std::printf("%-26s %12s %12s %12s %7s %7s\n", "task", "raw mj_step", "raw same-ep", "EnvBatch",
              "/raw", "/same");
  for (const std::string& name : flags.tasks) {
    auto loaded = sac::envs::LoadTask(name, *dir);
    auto batch = sac::envs::EnvBatch::Create(name, flags.num_envs, 0, *dir, flags.threads);
    if (!loaded.ok() || !batch.ok()) {
      std::fprintf(stderr, "%s: %s %s\n", name.c_str(), loaded.status().ToString().c_str(),
                   batch.status().ToString().c_str());
      return 1;
    }
    double raw = 0, same = 0, ours = 0;
    for (int r = 0; r < flags.rounds; ++r) {
      raw = std::max(raw, RawRate(**loaded, flags.seconds));
      std::vector<uint8_t> ends;
      ours = std::max(ours, BatchRate(**batch, flags.seconds, &ends));
      same = std::max(same, RawSameEpisodesRate(**loaded, flags.num_envs, ends));
    }
    std::printf("%-26s %12.0f %12.0f %12.0f %6.2fx %6.2fx\n", name.c_str(), raw, same, ours,
                ours / raw, ours / same);
    std::fflush(stdout);
  }

  std::printf("\nreferences, env steps/s on one core (same machine, same run):\n");
  std::map<std::string, std::string> gym, pool;
  if (Exists(flags.python)) gym = Reference(flags.python, "gymnasium", flags);
  const bool have_envpool = Exists(flags.envpool_python);
  if (have_envpool) pool = Reference(flags.envpool_python, "envpool", flags);
  std::printf("%-26s %14s %22s\n", "task", "Gymnasium (1)", "EnvPool (8 envs, 1 thr)");
  for (const std::string& name : flags.tasks) {
    const std::string g = gym.count(name) ? gym[name] : "n/a";
    const std::string p = have_envpool ? (pool.count(name) ? pool[name] : "n/a") : "not installed";
    std::printf("%-26s %14s %22s\n", name.c_str(), g.c_str(), p.c_str());
  }
  if (!have_envpool) {
    std::printf("(EnvPool: run bench/env_throughput/setup_envpool_venv.sh to install it)\n");
  }
  return 0;
}
