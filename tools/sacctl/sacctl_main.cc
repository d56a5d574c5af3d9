// sacctl: the user's CLI for sac-cluster.
//   sacctl local   train on a local cluster (learner + replay shards + actors)
//   sacctl status  query every process of a cluster
//   sacctl pull    download a policy snapshot from the learner
//   sacctl export  convert a snapshot to another format (ONNX)
//   sacctl eval    run a snapshot deterministically and report its return
//   sacctl plot    learning curves from run directories (PNG)
//   sacctl bench   run the benchmarks under build/bench
// `sacctl <command> --help` lists the command's flags.
#include <limits.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/files.h"
#include "common/logging.h"
#include "common/server.h"
#include "common/status.h"
#include "envs/env_batch.h"
#include "policy/episodes.h"
#include "policy/onnx_export.h"
#include "policy/policy_metadata.h"
#include "policy/policy_mlp.h"
#include "policy/safetensors.h"
#include "sac/v1/learner_config.pb.h"
#include "sac/v1/sacctl_config.pb.h"
#include "tools/sacctl/clients.h"
#include "tools/sacctl/local_cluster.h"

namespace sac::sacctl {
namespace {

constexpr char kUsage[] =
    "sacctl: the command line of sac-cluster (Soft Actor-Critic, distributed)\n\n"
    "Usage: sacctl <command> [--flag=value ...]\n\n"
    "Commands:\n"
    "  local   train on a local cluster: learner + replay shards + actors on this host\n"
    "  status  query every process of a cluster (--run_dir of `local`, or addresses)\n"
    "  pull    download a policy snapshot from the learner and print its metadata\n"
    "  export  convert a policy snapshot to an ONNX model (--format=onnx)\n"
    "  eval    run a policy snapshot deterministically for N episodes\n"
    "  plot    draw learning curves of run directories to a PNG\n"
    "  bench   run the benchmarks (build/bench/*) and print their figures\n\n"
    "`sacctl <command> --help` lists the flags of a command.\n";

std::string SelfDir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "sacctl: %s\n", std::string(status.message()).c_str());
  return 1;
}

// Whether the learner of `sacctl local` writes TensorBoard event files: its
// --learner_flag values read by the learner's own parser (a --config file
// included), the default where none sets it.
bool LearnerWritesTensorBoard(const v1::LocalCommand& command) {
  std::vector<const char*> argv = {"sac-learner"};
  for (const std::string& flag : command.learner_flag()) argv.push_back(flag.c_str());
  v1::LearnerConfig config;
  // The learner already started with these flags, so they parse; should they
  // not, the line is printed (the default).
  if (!ParseCommandLine(static_cast<int>(argv.size()), argv.data(), &config).ok()) return true;
  FillDefaults(&config);
  return config.tensorboard().enabled();
}

int RunLocal(int argc, char** argv) {
  ShutdownSignal shutdown;
  v1::LocalCommand command;
  InitConfigOrExit(argc, argv, "sacctl local",
                   "train on a local cluster (learner + replay shards + actors on this host)",
                   &command);
  const std::string bin_dir = command.bin_dir().empty() ? SelfDir() : command.bin_dir();
  std::printf("sacctl local: %s (%s) with %u replay shards and %u actors x %u envs; run dir %s\n",
              command.task().c_str(), command.variant().c_str(), command.shards(), command.actors(),
              command.envs_per_actor(), command.run_dir().c_str());
  auto cluster = LocalCluster::Start(command, bin_dir);
  if (!cluster.ok()) return Fail(cluster.status());
  std::printf("processes up: addresses in %s, logs in %s/logs; Ctrl-C stops with a checkpoint\n",
              LocalCluster::AddressFile(command.run_dir()).c_str(), command.run_dir().c_str());
  if (LearnerWritesTensorBoard(command)) {
    // The venv's tensorboard (deploy/requirements.txt); the learner writes into its run dir.
    std::printf("TensorBoard: %s --logdir %s/learner\n",
                (std::filesystem::path(SAC_PYTHON).parent_path() / "tensorboard").c_str(),
                command.run_dir().c_str());
  }
  std::fflush(stdout);
  auto outcome = (*cluster)->Run(shutdown);
  std::printf("stopping (checkpoint and replay snapshots)...\n");
  std::fflush(stdout);
  (*cluster)->Stop();
  if (!outcome.ok()) return Fail(outcome.status());
  std::printf("stopped; run `sacctl local --run_dir=%s` again to resume\n",
              command.run_dir().c_str());
  if (*outcome == LocalOutcome::kBudgetSpent && !std::isnan(command.target_return())) {
    std::printf("target return %.1f not reached\n", command.target_return());
    return 3;
  }
  return 0;
}

int RunStatus(int argc, char** argv) {
  v1::StatusCommand command;
  InitConfigOrExit(argc, argv, "sacctl status", "query every process of a cluster", &command);
  if (!command.run_dir().empty()) {
    std::ifstream in(LocalCluster::AddressFile(command.run_dir()));
    if (!in) {
      return Fail(
          absl::NotFoundError(absl::StrCat("no ", LocalCluster::AddressFile(command.run_dir()),
                                           ": is `sacctl local` running there?")));
    }
    std::string line;
    while (std::getline(in, line)) {
      const std::vector<std::string> parts = absl::StrSplit(line, absl::ByAnyChar("= "));
      if (parts.size() < 2) continue;
      if (parts[0] == "learner") command.add_learner(parts[1]);
      if (parts[0] == "replay") command.add_replay(parts[1]);
      if (parts[0] == "actor") command.add_actor(parts[1]);
    }
  }
  if (command.learner_size() + command.replay_size() + command.actor_size() == 0) {
    return Fail(absl::InvalidArgumentError(
        "nothing to query: give --run_dir or --learner/--replay/--actor addresses"));
  }
  auto options = MakeClientOptions(command.client());
  if (!options.ok()) return Fail(options.status());
  int failures = 0;
  for (const auto& address : command.learner()) {
    auto s = GetLearnerStatus(address, *options);
    if (!s.ok()) {
      std::printf("learner %s: %s\n", address.c_str(), std::string(s.status().message()).c_str());
      ++failures;
      continue;
    }
    std::printf(
        "learner %s: updates %llu, env steps %llu, policy v%llu, %.1f upd/s, "
        "temperature %.4g, losses q1 %.4g q2 %.4g v %.4g pi %.4g, entropy %.3g",
        address.c_str(), static_cast<unsigned long long>(s->updates()),
        static_cast<unsigned long long>(s->env_steps()),
        static_cast<unsigned long long>(s->policy_version()), s->updates_per_second(),
        s->temperature(), s->q1_loss(), s->q2_loss(), s->v_loss(), s->policy_loss(), s->entropy());
    if (s->last_eval_env_steps() > 0) {
      std::printf(", eval %.1f +- %.1f at %llu steps", s->last_eval_return_mean(),
                  s->last_eval_return_std(),
                  static_cast<unsigned long long>(s->last_eval_env_steps()));
    }
    std::printf("\n");
  }
  for (const auto& address : command.replay()) {
    auto s = GetReplayStatus(address, *options);
    if (!s.ok()) {
      std::printf("replay %s: %s\n", address.c_str(), std::string(s.status().message()).c_str());
      ++failures;
      continue;
    }
    std::printf("replay %s: shard %u, %llu / %llu rows, %llu inserted, %llu sampled, %s, %.1f MB\n",
                address.c_str(), s->shard_index(), static_cast<unsigned long long>(s->size()),
                static_cast<unsigned long long>(s->capacity()),
                static_cast<unsigned long long>(s->inserts_total()),
                static_cast<unsigned long long>(s->samples_total()), s->selector().c_str(),
                static_cast<double>(s->bytes_held()) / 1e6);
  }
  for (const auto& address : command.actor()) {
    auto s = GetActorStatus(address, *options);
    if (!s.ok()) {
      std::printf("actor %s: %s\n", address.c_str(), std::string(s.status().message()).c_str());
      ++failures;
      continue;
    }
    std::printf(
        "actor %s: id %u, %llu env steps, %llu episodes, recent return %.1f, "
        "%.0f steps/s, policy v%llu (lag %llu)\n",
        address.c_str(), s->actor_id(), static_cast<unsigned long long>(s->env_steps()),
        static_cast<unsigned long long>(s->episodes()), s->recent_return_mean(),
        s->env_steps_per_second(), static_cast<unsigned long long>(s->policy_version()),
        static_cast<unsigned long long>(s->policy_lag()));
  }
  return failures == 0 ? 0 : 1;
}

void PrintMetadata(const v1::PolicyMetadata& m) {
  std::vector<std::string> hidden;
  hidden.reserve(m.hidden_sizes_size());
  for (uint32_t h : m.hidden_sizes()) hidden.push_back(std::to_string(h));
  std::printf(
      "task %s, variant %s, version %llu, env steps %llu, updates %llu, "
      "obs %u, act %u, hidden [%s], wall time %.0f s\n",
      m.task().c_str(), m.variant().c_str(), static_cast<unsigned long long>(m.version()),
      static_cast<unsigned long long>(m.env_steps()), static_cast<unsigned long long>(m.updates()),
      m.obs_dim(), m.act_dim(), absl::StrJoin(hidden, ", ").c_str(), m.wall_time_seconds());
}

OnnxPolicyGraph OnnxGraphOf(bool stochastic) {
  return stochastic ? OnnxPolicyGraph::kStochastic : OnnxPolicyGraph::kDeterministic;
}

void PrintOnnxSummary(const std::string& out, size_t bytes, OnnxPolicyGraph graph,
                      const v1::PolicyMetadata& m) {
  std::string inputs = absl::StrCat(kOnnxObservationInput, " [N, ", m.obs_dim(), "]");
  if (graph == OnnxPolicyGraph::kStochastic) {
    absl::StrAppend(&inputs, ", ", kOnnxNoiseInput, " [N, ", m.act_dim(), "]");
  }
  std::printf(
      "wrote %s (%zu bytes): ONNX opset %lld, IR version %lld, %s graph: %s -> %s [N, %u]\n",
      out.c_str(), bytes, static_cast<long long>(kOnnxOpsetVersion),
      static_cast<long long>(kOnnxIrVersion), OnnxPolicyGraphName(graph), inputs.c_str(),
      kOnnxActionOutput, m.act_dim());
}

int RunPull(int argc, char** argv) {
  v1::PullCommand command;
  InitConfigOrExit(argc, argv, "sacctl pull", "download a policy snapshot from the learner",
                   &command);
  const bool onnx = command.format() == "onnx";
  if (command.stochastic() && !onnx) {
    return Fail(absl::InvalidArgumentError("--stochastic applies to --format=onnx only"));
  }
  auto options = MakeClientOptions(command.client());
  if (!options.ok()) return Fail(options.status());
  options->timeout = absl::Seconds(60);
  auto snapshot = GetSnapshot(command.learner(), command.version(), *options);
  if (!snapshot.ok()) return Fail(snapshot.status());
  const std::string out =
      command.out().empty()
          ? absl::StrCat("policy-", snapshot->info().version(), onnx ? ".onnx" : ".safetensors")
          : command.out();
  if (onnx) {
    // The learner's bytes are checked like any file's before they are converted.
    auto file = ParseSafetensors(snapshot->safetensors());
    if (!file.ok()) return Fail(Annotate(file.status(), "the learner's snapshot"));
    const OnnxPolicyGraph graph = OnnxGraphOf(command.stochastic());
    auto model = ExportPolicyOnnx(*file, graph);
    if (!model.ok()) return Fail(Annotate(model.status(), "the learner's snapshot"));
    if (absl::Status s = WriteFileAtomically(out, *model); !s.ok()) return Fail(s);
    PrintOnnxSummary(out, model->size(), graph, snapshot->metadata());
  } else {
    if (absl::Status s = WriteFileAtomically(out, snapshot->safetensors()); !s.ok()) return Fail(s);
    std::printf("wrote %s (%zu bytes)\n", out.c_str(), snapshot->safetensors().size());
  }
  PrintMetadata(snapshot->metadata());
  return 0;
}

// FILE.safetensors -> FILE.onnx; any other name gets .onnx appended.
std::string OnnxNameFor(const std::string& snapshot) {
  constexpr absl::string_view kSuffix = ".safetensors";
  absl::string_view stem = snapshot;
  if (absl::EndsWith(stem, kSuffix)) stem.remove_suffix(kSuffix.size());
  return absl::StrCat(stem, ".onnx");
}

int RunExport(int argc, char** argv) {
  v1::ExportCommand command;
  InitConfigOrExit(argc, argv, "sacctl export",
                   "convert a policy snapshot to an ONNX model (the policy's graph, metadata "
                   "in metadata_props)",
                   &command);
  if (command.snapshot().empty()) {
    return Fail(absl::InvalidArgumentError("--snapshot=FILE is required"));
  }
  const std::string out = command.out().empty() ? OnnxNameFor(command.snapshot()) : command.out();
  std::error_code same_error;
  if (std::filesystem::equivalent(command.snapshot(), out, same_error)) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--out '", out, "' is the snapshot itself; name another file")));
  }
  auto file = ReadSafetensorsFile(command.snapshot());
  if (!file.ok()) return Fail(file.status());
  auto metadata = PolicyMetadataFromStrings(file->metadata);
  if (!metadata.ok()) return Fail(Annotate(metadata.status(), command.snapshot()));
  const OnnxPolicyGraph graph = OnnxGraphOf(command.stochastic());
  auto model = ExportPolicyOnnx(*file, graph);
  if (!model.ok()) return Fail(Annotate(model.status(), command.snapshot()));
  if (absl::Status s = WriteFileAtomically(out, *model); !s.ok()) return Fail(s);
  PrintOnnxSummary(out, model->size(), graph, *metadata);
  PrintMetadata(*metadata);
  return 0;
}

int RunEval(int argc, char** argv) {
  v1::EvalCommand command;
  InitConfigOrExit(argc, argv, "sacctl eval",
                   "run a policy snapshot for N episodes and print the mean and std return",
                   &command);
  if (command.snapshot().empty()) {
    return Fail(absl::InvalidArgumentError("--snapshot=FILE is required"));
  }
  auto file = ReadSafetensorsFile(command.snapshot());
  if (!file.ok()) return Fail(file.status());
  auto policy = PolicyMlp::FromSafetensors(*file);
  if (!policy.ok()) return Fail(Annotate(policy.status(), command.snapshot()));
  PrintMetadata((*policy)->metadata());
  const int n = static_cast<int>(command.episodes());
  auto envs =
      envs::EnvBatch::Create((*policy)->metadata().task(), n, command.seed(), command.models_dir());
  if (!envs.ok()) return Fail(envs.status());
  envs::EnvBatch& batch = **envs;
  std::mt19937_64 rng(command.seed());
  // --dump_actions: the observations and actions of env 0's first episode.
  std::ofstream dump;
  if (!command.dump_actions().empty()) dump.open(command.dump_actions(), std::ios::trunc);
  EpisodeHook dump_env0 = nullptr;
  if (dump.is_open()) {
    dump_env0 = [&dump](const EpisodeStep& step) {
      if (!std::isnan(step.returns[0])) return absl::OkStatus();
      std::vector<std::string> row;
      row.reserve(step.batch.obs_dim() + step.batch.act_dim());
      for (int j = 0; j < step.batch.obs_dim(); ++j) {
        row.push_back(absl::StrFormat("%.9g", step.batch.observations()[j]));
      }
      for (int j = 0; j < step.batch.act_dim(); ++j) {
        row.push_back(absl::StrFormat("%.9g", step.actions[j]));
      }
      dump << absl::StrJoin(row, ",") << "\n";
      return absl::OkStatus();
    };
  }
  auto returns = RunEpisodes(batch, **policy, !command.stochastic(), rng, dump_env0);
  if (!returns.ok()) return Fail(returns.status());
  const ReturnStats stats = SummarizeReturns(*returns);
  std::printf("eval %s: %d episodes, return mean %.2f std %.2f (min %.2f, max %.2f)\n",
              batch.task().c_str(), n, stats.mean, stats.std, stats.min, stats.max);
  return 0;
}

int RunPlot(int argc, char** argv) {
  std::vector<std::string> args = {SAC_PYTHON,
                                   std::string(SAC_SOURCE_DIR) + "/python/sac_cluster/plot.py"};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  std::vector<char*> cargs;
  cargs.reserve(args.size() + 1);
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  setenv("PYTHONPATH", (std::string(SAC_SOURCE_DIR) + "/python").c_str(), 1);
  execv(cargs[0], cargs.data());
  return Fail(
      absl::InternalError(absl::StrCat("cannot run ", args[0], " (run deploy/install-deps.sh)")));
}

int RunBench(int argc, char** argv) {
  const std::string dir = SelfDir();
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) names.emplace_back(argv[i]);
  if (names.empty()) {
    names = {"env_throughput", "replay_throughput", "learner_throughput", "actor_throughput"};
  }
  int failures = 0;
  for (const auto& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) != 0) {
      std::printf("== %s: not built (%s)\n", name.c_str(), path.c_str());
      ++failures;
      continue;
    }
    std::printf("== %s\n", name.c_str());
    std::fflush(stdout);
    if (std::system(path.c_str()) != 0) ++failures;
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sac::sacctl

int main(int argc, char** argv) {
  // A CLI: only warnings and errors on stderr unless SAC_LOG_LEVEL says otherwise.
  if (std::getenv("SAC_LOG_LEVEL") == nullptr) sac::SetMinLogLevel(sac::LogLevel::kWarning);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help" ||
      std::string(argv[1]) == "-h") {
    std::printf("%s", sac::sacctl::kUsage);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  // The command's own flags follow it: argv[1..] with the command as argv[0].
  if (command == "local") return sac::sacctl::RunLocal(argc - 1, argv + 1);
  if (command == "status") return sac::sacctl::RunStatus(argc - 1, argv + 1);
  if (command == "pull") return sac::sacctl::RunPull(argc - 1, argv + 1);
  if (command == "export") return sac::sacctl::RunExport(argc - 1, argv + 1);
  if (command == "eval") return sac::sacctl::RunEval(argc - 1, argv + 1);
  if (command == "plot") return sac::sacctl::RunPlot(argc - 1, argv + 1);
  if (command == "bench") return sac::sacctl::RunBench(argc - 1, argv + 1);
  std::fprintf(
      stderr,
      "sacctl: unknown command '%s' (known: local, status, pull, export, eval, plot, bench)\n",
      command.c_str());
  return 2;
}
