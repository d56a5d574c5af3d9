// Fault tests of the running system on loopback: the real sac-replay,
// sac-learner and sac-actor binaries (started by sacctl's LocalCluster on ports
// they pick), with a shard killed under load, the learner killed, a shard
// frozen (SIGSTOP: its connections stay open and nothing answers, as in a
// network partition), and actors coming and going at random. Every wait polls a
// condition with a deadline. The deadlines are generous (the test machine is
// shared and loaded); the conditions are the promises themselves, so a broken
// promise fails the test and a slow machine does not.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "tests/testing/process.h"
#include "tools/sacctl/clients.h"
#include "tools/sacctl/local_cluster.h"

namespace sac {
namespace {

using sacctl::LocalCluster;
using ::testing::HasSubstr;
using Process = LocalCluster::Process;

constexpr absl::Duration kPoll = absl::Milliseconds(100);
// How long something that must happen may take on the loaded test machine.
constexpr absl::Duration kMust = absl::Seconds(90);

sacctl::ClientOptions Client() {
  sacctl::ClientOptions o;
  o.timeout = absl::Seconds(5);
  return o;
}

std::string BinDir() {
  const std::string p = testing::BinaryPath("sac-actor");
  return p.substr(0, p.rfind('/'));
}

// A small cluster for InvertedPendulum-v5 (fast steps, tiny rows): 32x32
// networks, batch 64, no samples-per-insert ratio (actors insert at full
// speed, the learner samples as fast as it updates), durable shards.
v1::LocalCommand Command(const std::string& name, const std::string& task, uint32_t shards,
                         uint32_t actors) {
  v1::LocalCommand c;
  c.set_task(task);
  c.set_variant("v2");
  c.set_shards(shards);
  c.set_actors(actors);
  c.set_envs_per_actor(1);
  c.set_run_dir(testing::MakeTempDir(name));
  c.set_seed(7);
  c.set_replay_capacity(20000000);
  c.set_min_replay_size(400);
  c.set_random_steps(1000);
  c.set_samples_per_insert(0);
  c.set_eval_every_env_steps(0);
  c.set_learner_threads(1);
  c.set_device("cpu");
  c.set_durability(true);
  c.add_hidden_sizes(32);
  c.add_hidden_sizes(32);
  c.add_learner_flag("--sac.batch_size=64");
  c.add_learner_flag("--publish_every_updates=20");
  // Probing a shard that is away: from 0.1 s up to 2 s between probes.
  c.add_learner_flag("--replay_client.max_backoff_seconds=2");
  c.add_actor_flag("--client.max_backoff_seconds=2");
  return c;
}

// Sum of the samples of metric `name` whose labels contain `label` (all when
// empty), from Prometheus text.
double MetricSum(const std::string& text, const std::string& name, const std::string& label = "") {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.compare(0, name.size(), name) != 0) continue;
    const char next = line.size() > name.size() ? line[name.size()] : '\0';
    if (next != '{' && next != ' ') continue;
    const size_t space = line.rfind(' ');
    if (!label.empty() && line.substr(0, space).find(label) == std::string::npos) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(space + 1), &v)) sum += v;
  }
  return sum;
}

// Transitions shard `shard` acknowledged to this actor (its metric); -1 when
// the actor does not answer.
double ActorAcked(const Process& actor, int shard) {
  auto text = testing::HttpGet(actor.metrics_port, "/metrics");
  if (!text.ok()) return -1;
  return MetricSum(*text, "sac_actor_transitions_acked_total",
                   absl::StrCat("shard=\"", shard, "\""));
}

double LearnerMetric(const Process& learner, const std::string& name) {
  auto text = testing::HttpGet(learner.metrics_port, "/metrics");
  return text.ok() ? MetricSum(*text, name) : -1;
}

uint64_t Updates(const Process& learner) {
  auto s = sacctl::GetLearnerStatus(learner.address(), Client());
  return s.ok() ? s->updates() : 0;
}

absl::StatusOr<v1::ReplayStatus> ShardStatus(const Process& shard) {
  return sacctl::GetReplayStatus(shard.address(), Client());
}

uint64_t ShardSamples(const Process& shard) {
  auto s = ShardStatus(shard);
  return s.ok() ? s->samples_total() : 0;
}

absl::StatusOr<v1::ActorStatus> ActorStatus(const Process& actor) {
  return sacctl::GetActorStatus(actor.address(), Client());
}

uint64_t ActorSteps(const Process& actor) {
  auto s = ActorStatus(actor);
  return s.ok() ? s->env_steps() : 0;
}

// VmRSS and VmHWM (peak RSS) of a process, in bytes; -1 when unreadable.
struct Memory {
  int64_t rss = -1;
  int64_t hwm = -1;
};
Memory ReadMemory(pid_t pid) {
  Memory m;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  int64_t kb;
  std::string unit;
  while (in >> key) {
    if (key == "VmRSS:" && in >> kb >> unit) {
      m.rss = kb * 1024;
    } else if (key == "VmHWM:" && in >> kb >> unit) {
      m.hwm = kb * 1024;
    }
  }
  return m;
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

// Checkpoint files in `dir` by their update count, newest last.
std::vector<std::pair<uint64_t, std::string>> Checkpoints(const std::string& dir) {
  std::vector<std::pair<uint64_t, std::string>> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      uint64_t updates = 0;
      if (name.size() == 5 + 12 + 5 && name.compare(0, 5, "ckpt-") == 0 &&
          name.compare(17, 5, ".ckpt") == 0 && absl::SimpleAtoi(name.substr(5, 12), &updates)) {
        out.emplace_back(updates, name);
      }
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Sends SIGCONT to a stopped process when the scope ends (also when an
// assertion returns early), so that the cluster can be stopped.
class ContinueOnExit {
 public:
  explicit ContinueOnExit(ChildProcess* p) : p_(p) {}
  ~ContinueOnExit() {
    if (p_ != nullptr) p_->Signal(SIGCONT);
  }
  void Continue() {
    p_->Signal(SIGCONT);
    p_ = nullptr;
  }

 private:
  ChildProcess* p_;
};

// 1. A shard SIGKILLed while two actors insert at full speed and the learner
// samples from both shards: every transition it acknowledged is there after
// the restart (durable shard), the actors keep inserting into the other shard
// meanwhile and resume inserting into it, and the learner keeps updating from
// the other shard and samples from it again once it is back.
TEST(Faults, ShardKilledUnderLoadLosesNoAcknowledgedTransition) {
  const v1::LocalCommand command = Command("faults_shard_kill", "InvertedPendulum-v5", 2, 2);
  auto cluster = LocalCluster::Start(command, BinDir());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  auto loaded = [&] {
    for (size_t a = 0; a < c.num_actors(); ++a) {
      if (ActorAcked(c.actor(a), 0) < 5000 || ActorAcked(c.actor(a), 1) < 5000) return false;
    }
    return ShardSamples(c.shard(0)) > 0 && ShardSamples(c.shard(1)) > 0 &&
           Updates(c.learner()) >= 100;
  };
  ASSERT_TRUE(testing::WaitFor(loaded, kMust, kPoll))
      << "the cluster did not get under load; learner log: " << c.learner().child->ReadLog();

  std::vector<double> acked0_at_kill;
  for (size_t a = 0; a < c.num_actors(); ++a) acked0_at_kill.push_back(ActorAcked(c.actor(a), 0));
  c.shard(1).child->Signal(SIGKILL);
  auto exit = c.shard(1).child->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value());
  ASSERT_TRUE(WIFSIGNALED(*exit));
  const absl::Time down_at = absl::Now();

  // While it is down: the learner leaves it out and keeps updating (from
  // shard 0), and every actor, having seen its stream to shard 1 break, keeps
  // inserting into shard 0.
  const std::string gone = "replay shard 1 (" + c.shard(1).address() + ") does not answer";
  EXPECT_TRUE(testing::WaitFor(
      [&] { return c.learner().child->ReadLog().find(gone) != std::string::npos; }, kMust, kPoll))
      << "the learner did not notice shard 1 was gone; its log: " << c.learner().child->ReadLog();
  const uint64_t updates_at_kill = Updates(c.learner());
  EXPECT_TRUE(
      testing::WaitFor([&] { return Updates(c.learner()) >= updates_at_kill + 200; }, kMust, kPoll))
      << "the learner stalled while shard 1 was down; its log: " << c.learner().child->ReadLog();
  const std::string broken = "stream to " + c.shard(1).address() + " ended";
  for (size_t a = 0; a < c.num_actors(); ++a) {
    EXPECT_TRUE(testing::WaitFor(
        [&] { return c.actor(a).child->ReadLog().find(broken) != std::string::npos; }, kMust,
        kPoll))
        << "actor " << a << " did not notice shard 1 was gone";
    EXPECT_TRUE(testing::WaitFor(
        [&] { return ActorAcked(c.actor(a), 0) >= acked0_at_kill[a] + 2000; }, kMust, kPoll))
        << "actor " << a << " stopped inserting into shard 0 while shard 1 was down";
  }
  // What shard 1 acknowledged to the actors before it died: no ack can come
  // from it any more, and the acks it sent have been read by now.
  std::vector<double> acked1;
  double acked1_total = 0;
  for (size_t a = 0; a < c.num_actors(); ++a) {
    acked1.push_back(ActorAcked(c.actor(a), 1));
    ASSERT_GT(acked1.back(), 0) << "actor " << a;
    acked1_total += acked1.back();
  }
  const absl::Duration outage = absl::Now() - down_at;

  ASSERT_TRUE(c.Restart(&c.shard(1)).ok());
  auto back = ShardStatus(c.shard(1));
  ASSERT_TRUE(back.ok()) << back.status();
  // Durable: every acknowledged transition is there after the restart (the
  // actors may have sent unacknowledged ones again: at least, not equal).
  EXPECT_GE(static_cast<double>(back->inserts_total()), acked1_total);
  EXPECT_GE(static_cast<double>(back->size()), acked1_total);
  const uint64_t samples_back = back->samples_total();
  // The actors reconnect and insert into it again.
  for (size_t a = 0; a < c.num_actors(); ++a) {
    EXPECT_TRUE(testing::WaitFor([&] { return ActorAcked(c.actor(a), 1) >= acked1[a] + 1000; },
                                 kMust, kPoll))
        << "actor " << a << " did not resume inserting into the restarted shard";
  }
  // The learner finds it again and samples from it (at least 20 batches'
  // worth), and keeps updating.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return c.learner().child->ReadLog().find("replay shard 1 (" + c.shard(1).address() +
                                                 ") answers again") != std::string::npos;
      },
      kMust, kPoll))
      << "the learner did not take the restarted shard back; its log: "
      << c.learner().child->ReadLog();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return ShardSamples(c.shard(1)) >= samples_back + uint64_t{20} * 64; }, kMust, kPoll))
      << "the learner does not sample from the restarted shard; its log: "
      << c.learner().child->ReadLog();
  const uint64_t updates_back = Updates(c.learner());
  EXPECT_TRUE(
      testing::WaitFor([&] { return Updates(c.learner()) >= updates_back + 100; }, kMust, kPoll));
  EXPECT_TRUE(c.shard(0).child->running());
  EXPECT_TRUE(c.learner().child->running());
  for (size_t a = 0; a < c.num_actors(); ++a) EXPECT_TRUE(c.actor(a).child->running());
  SAC_LOG(INFO) << "FIGURES shard_kill: acknowledged_by_killed_shard=" << acked1_total
                << " recovered_inserts=" << back->inserts_total()
                << " recovered_size=" << back->size()
                << " outage_s=" << absl::ToDoubleSeconds(outage)
                << " updates_during_outage>=" << 200
                << " learner_updates_end=" << Updates(c.learner());
  c.Stop();
}

// 2. The learner SIGKILLed (no checkpoint at stop): the restarted learner
// resumes from its newest periodic checkpoint, the actors keep stepping with
// the policy they have while it is away, and pick up its new versions after.
// Then a torn newest checkpoint: skipped, the one before it is used.
TEST(Faults, LearnerKilledResumesFromItsLastPeriodicCheckpoint) {
  v1::LocalCommand command = Command("faults_learner_kill", "InvertedPendulum-v5", 1, 2);
  command.add_learner_flag("--checkpoint_interval_seconds=1");
  auto cluster = LocalCluster::Start(command, BinDir());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  const std::string ckpt_dir = command.run_dir() + "/learner/checkpoints";
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        // A periodic checkpoint with a published version in it (one every 20 updates).
        const auto checkpoints = Checkpoints(ckpt_dir);
        if (checkpoints.empty() || checkpoints.back().first < 100) return false;
        for (size_t a = 0; a < c.num_actors(); ++a) {
          auto s = ActorStatus(c.actor(a));
          if (!s.ok() || s->policy_version() == 0) return false;
        }
        return true;
      },
      kMust, kPoll))
      << "no periodic checkpoint or no policy at the actors; learner log: "
      << c.learner().child->ReadLog();

  const uint64_t updates_before_kill = Updates(c.learner());
  std::vector<size_t> actor_log_at_kill;
  for (size_t a = 0; a < c.num_actors(); ++a) {
    actor_log_at_kill.push_back(c.actor(a).child->ReadLog().size());
  }
  c.learner().child->Signal(SIGKILL);
  auto exit = c.learner().child->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(exit.has_value());
  ASSERT_TRUE(WIFSIGNALED(*exit));
  const absl::Time down_at = absl::Now();
  const auto checkpoints = Checkpoints(ckpt_dir);
  ASSERT_FALSE(checkpoints.empty());
  const uint64_t ckpt_updates = checkpoints.back().first;
  EXPECT_GE(ckpt_updates, 100u);

  // While it is away: every actor notices (its policy stream ends), retries
  // with backoff (two more attempts fail), keeps stepping, acting with the
  // version it has.
  std::vector<uint64_t> version_at_kill;
  for (size_t a = 0; a < c.num_actors(); ++a) {
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          return CountLines(c.actor(a).child->ReadLog().substr(actor_log_at_kill[a]),
                            "policy stream from") >= 3;
        },
        kMust, kPoll))
        << "actor " << a << " did not notice the learner was gone and retry";
    auto s = ActorStatus(c.actor(a));
    ASSERT_TRUE(s.ok()) << s.status();
    version_at_kill.push_back(s->policy_version());
    const uint64_t steps = s->env_steps();
    EXPECT_TRUE(
        testing::WaitFor([&] { return ActorSteps(c.actor(a)) >= steps + 2000; }, kMust, kPoll))
        << "actor " << a << " stopped stepping while the learner was away";
    auto after = ActorStatus(c.actor(a));
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->policy_version(), version_at_kill[a]);
  }
  const absl::Duration outage = absl::Now() - down_at;

  ASSERT_TRUE(c.Restart(&c.learner()).ok());
  // It resumed from the newest checkpoint on disk: its counters continue from there.
  EXPECT_THAT(c.learner().child->ReadLog(),
              HasSubstr(absl::StrCat("resumed from ", ckpt_dir, "/", checkpoints.back().second,
                                     ": ", ckpt_updates, " updates")));
  auto resumed = sacctl::GetLearnerStatus(c.learner().address(), Client());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_GE(resumed->updates(), ckpt_updates);
  EXPECT_GT(resumed->policy_version(), 0u);
  EXPECT_TRUE(testing::WaitFor([&] { return Updates(c.learner()) >= resumed->updates() + 200; },
                               kMust, kPoll))
      << "the restarted learner does not train";
  // The actors pick up versions newer than the one they acted with.
  for (size_t a = 0; a < c.num_actors(); ++a) {
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          auto s = ActorStatus(c.actor(a));
          return s.ok() && s->policy_version() > version_at_kill[a];
        },
        kMust, kPoll))
        << "actor " << a << " did not pick up policies from the restarted learner";
  }
  SAC_LOG(INFO) << "FIGURES learner_kill: updates_before_kill>=" << updates_before_kill
                << " checkpoint_updates=" << ckpt_updates
                << " resumed_updates=" << resumed->updates()
                << " outage_s=" << absl::ToDoubleSeconds(outage)
                << " actor_version_at_kill=" << version_at_kill[0]
                << " learner_updates_end=" << Updates(c.learner());

  // Killed again once it has written two new checkpoints, and the newest one
  // torn (cut in half, as a disk might leave it): the restart skips it with a
  // warning and resumes from the one before.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        const auto now = Checkpoints(ckpt_dir);
        return now.size() >= 2 && now[now.size() - 2].first > ckpt_updates;
      },
      kMust, kPoll))
      << c.learner().child->ReadLog();
  c.learner().child->Signal(SIGKILL);
  ASSERT_TRUE(c.learner().child->WaitForExit(absl::Seconds(30)).has_value());
  const auto second = Checkpoints(ckpt_dir);
  ASSERT_GE(second.size(), 2u);
  const std::string torn = ckpt_dir + "/" + second.back().second;
  std::string bytes;
  {
    std::ifstream in(torn, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    bytes = all.str();
  }
  ASSERT_GT(bytes.size(), 100u);
  {
    std::ofstream out(torn, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  const auto& previous = second[second.size() - 2];
  ASSERT_TRUE(c.Restart(&c.learner()).ok());
  const std::string log = c.learner().child->ReadLog();
  EXPECT_THAT(log, HasSubstr("skipping checkpoint " + torn));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("resumed from ", ckpt_dir, "/", previous.second, ": ",
                                          previous.first, " updates")));
  auto again = sacctl::GetLearnerStatus(c.learner().address(), Client());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GE(again->updates(), previous.first);
  EXPECT_TRUE(testing::WaitFor([&] { return Updates(c.learner()) >= again->updates() + 100; },
                               kMust, kPoll))
      << "the learner does not train after skipping a torn checkpoint";
  SAC_LOG(INFO) << "FIGURES torn_checkpoint: torn_updates=" << second.back().first
                << " resumed_from_updates=" << previous.first;
  c.Stop();
}

// Snapshot files in `dir` by version, with their bytes.
std::map<uint64_t, std::string> SnapshotFiles(const std::string& dir) {
  std::map<uint64_t, std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      uint64_t version = 0;
      if (name.size() == 7 + 12 + 12 && name.compare(0, 7, "policy-") == 0 &&
          name.compare(19, 12, ".safetensors") == 0 &&
          absl::SimpleAtoi(name.substr(7, 12), &version)) {
        std::ifstream in(absl::StrCat(dir, "/", name), std::ios::binary);
        std::ostringstream bytes;
        bytes << in.rdbuf();
        out[version] = bytes.str();
      }
    }
    closedir(d);
  }
  return out;
}

// 2b. The learner SIGKILLed before its first checkpoint (none periodic): the
// restart starts from fresh weights, but numbers its versions above every
// version the first one published (the durable high-water mark), so the actor
// takes its first version at once instead of keeping the old one until the new
// learner passes it, and no snapshot file of the first life is overwritten.
TEST(Faults, LearnerKilledBeforeItsFirstCheckpointNeverReusesAVersionOrSnapshot) {
  v1::LocalCommand command = Command("faults_learner_early_kill", "InvertedPendulum-v5", 1, 1);
  command.add_learner_flag("--checkpoint_interval_seconds=0");  // none until stop
  command.add_learner_flag("--snapshot_every_versions=2");
  command.add_learner_flag("--snapshot_retention=100000");  // nothing pruned: all compared
  auto cluster = LocalCluster::Start(command, BinDir());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  const std::string learner_dir = command.run_dir() + "/learner";
  uint64_t learner_version = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto l = sacctl::GetLearnerStatus(c.learner().address(), Client());
        auto a = ActorStatus(c.actor(0));
        if (l.ok()) learner_version = l->policy_version();
        return learner_version >= 12 && a.ok() && a->policy_version() > 0;
      },
      kMust, kPoll))
      << c.learner().child->ReadLog();
  c.learner().child->Signal(SIGKILL);
  ASSERT_TRUE(c.learner().child->WaitForExit(absl::Seconds(30)).has_value());
  ASSERT_TRUE(Checkpoints(learner_dir + "/checkpoints").empty());

  // Every version the first life published is at most the highest seen by the
  // test, the actor, or in a snapshot file.
  const std::map<uint64_t, std::string> before = SnapshotFiles(learner_dir + "/snapshots");
  ASSERT_FALSE(before.empty());
  auto actor_at_kill = ActorStatus(c.actor(0));
  ASSERT_TRUE(actor_at_kill.ok());
  const uint64_t highest =
      std::max({learner_version, actor_at_kill->policy_version(), before.rbegin()->first});

  ASSERT_TRUE(c.Restart(&c.learner()).ok());
  const absl::Time restarted = absl::Now();
  EXPECT_THAT(c.learner().child->ReadLog(), HasSubstr("policy versions continue above v"));
  uint64_t first = 0;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto l = sacctl::GetLearnerStatus(c.learner().address(), Client());
        if (l.ok()) first = l->policy_version();
        return first > 0;
      },
      kMust, kPoll))
      << c.learner().child->ReadLog();
  EXPECT_GT(first, highest) << "the restarted learner reused version numbers";
  // The actor acts with the new learner's policy as soon as it gets it.
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto a = ActorStatus(c.actor(0));
        return a.ok() && a->policy_version() > highest;
      },
      kMust, kPoll));
  const absl::Duration switched = absl::Now() - restarted;
  // Enough new versions that the old numbering would have rewritten files.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto l = sacctl::GetLearnerStatus(c.learner().address(), Client());
        return l.ok() && l->policy_version() >= first + 12;
      },
      kMust, kPoll));
  const std::map<uint64_t, std::string> after = SnapshotFiles(learner_dir + "/snapshots");
  size_t new_files = 0;
  for (const auto& [version, bytes] : after) {
    auto old = before.find(version);
    if (old == before.end()) {
      EXPECT_GT(version, highest) << "a new snapshot under an old number";
      ++new_files;
    } else {
      EXPECT_TRUE(bytes == old->second) << "snapshot v" << version << " was overwritten";
    }
  }
  for (const auto& [version, bytes] : before) EXPECT_TRUE(after.count(version)) << version;
  EXPECT_GE(new_files, 6u);
  SAC_LOG(INFO) << "FIGURES learner_early_kill: highest_before=" << highest
                << " first_seen_after_restart=" << first << " snapshots_before=" << before.size()
                << " new_snapshots=" << new_files
                << " actor_switch_s=" << absl::ToDoubleSeconds(switched);
  c.Stop();
}

// 3. A shard frozen with SIGSTOP for a while (a partition: connections stay
// open, nothing answers). The learner's waits on it end at their deadlines and
// it samples from the other shard; the actor keeps stepping and inserting into
// the other shard without an error storm, and holds at most
// max_unacked_batches for the frozen one, so its memory stays within a bound
// derived from its config. After SIGCONT everything flows again.
TEST(Faults, FrozenShardIsLeftOutAndActorMemoryStaysBounded) {
  // Humanoid-v5: big rows (348 observations), so that buffering without a
  // bound would show in the actor's memory within seconds.
  const std::string task = "Humanoid-v5";
  constexpr int kMaxUnacked = 2;
  constexpr int kBatchRows = 64;
  v1::LocalCommand command = Command("faults_partition", task, 2, 1);
  command.set_replay_capacity(200000);  // 2 x 100k rows of 5.8 kB (table + snapshot copy)
  command.add_actor_flag(absl::StrCat("--max_unacked_batches=", kMaxUnacked));
  command.add_actor_flag(absl::StrCat("--send_batch_rows=", kBatchRows));
#if defined(__SANITIZE_ADDRESS__)
  // ASan keeps freed memory in a quarantine (256 MB by default) before reusing
  // it, so an instrumented actor's RSS grows with every allocation, bounded
  // buffering or not: this cluster's processes run without the quarantine (every
  // other ASan check stays on), so RSS measures what the actor holds.
  const char* inherited = getenv("ASAN_OPTIONS");
  const std::string asan_options = inherited ? inherited : "";
  setenv("ASAN_OPTIONS",
         (asan_options + (asan_options.empty() ? "" : ":") + "quarantine_size_mb=0").c_str(), 1);
  auto cluster = LocalCluster::Start(command, BinDir());
  if (inherited) {
    setenv("ASAN_OPTIONS", asan_options.c_str(), 1);
  } else {
    unsetenv("ASAN_OPTIONS");
  }
#else
  auto cluster = LocalCluster::Start(command, BinDir());
#endif
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  absl::StatusOr<v1::ReplayStatus> dims = absl::UnknownError("not asked");
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        dims = ShardStatus(c.shard(0));
        return dims.ok();
      },
      kMust, kPoll))
      << dims.status();
  const int64_t od = dims->obs_dim(), ad = dims->act_dim();
  ASSERT_EQ(od, 348);
  // One row in a TransitionBatch: obs, next_obs, action, reward (float32),
  // terminated, truncated (a byte each), policy version and actor id (varints).
  const int64_t row_bytes = 4 * (2 * od + ad + 1) + 2 + 10 + 5;
  const int64_t batch_bytes = kBatchRows * row_bytes;
  // The bound: for the frozen shard the writer holds at most kMaxUnacked
  // batches; each may also be in flight as a copy in the request being written
  // and as its serialized bytes in gRPC's buffers (x3), plus the batch being
  // filled (x4 in all); and 16 MiB for allocator arenas, gRPC and MuJoCo
  // buffers that a long run may touch for the first time.
  const int64_t bound = int64_t{4} * kMaxUnacked * batch_bytes + (16 << 20);
  // Stay frozen until the actor has taken enough steps that, without the
  // bound, the half of them meant for the frozen shard would take twice the
  // bound in memory.
  const uint64_t steps_needed = static_cast<uint64_t>(2 * (2 * bound) / row_bytes);
  const Process& actor = c.actor(0);
  // Warm up until memory is steady: both shards have taken many batches.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return ActorAcked(actor, 0) >= 100 * kBatchRows &&
               ActorAcked(actor, 1) >= 100 * kBatchRows && ShardSamples(c.shard(1)) > 0 &&
               Updates(c.learner()) >= 100;
      },
      kMust, kPoll))
      << "the cluster did not get under load; learner log: " << c.learner().child->ReadLog();
  const Memory before = ReadMemory(actor.child->pid());
  ASSERT_GT(before.rss, 0);
  const uint64_t samples1_before = ShardSamples(c.shard(1));
  const uint64_t steps_at_stop = ActorSteps(actor);
  const double acked0_at_stop = ActorAcked(actor, 0);
  const size_t actor_log_at_stop = actor.child->ReadLog().size();
  const size_t learner_log_at_stop = c.learner().child->ReadLog().size();

  c.shard(1).child->Signal(SIGSTOP);
  ContinueOnExit guard(c.shard(1).child.get());
  const absl::Time stopped_at = absl::Now();
  const uint64_t updates_at_stop = Updates(c.learner());
  int64_t peak_rss = before.rss;
  uint64_t steps = 0;
  const bool held = testing::WaitFor(
      [&] {
        peak_rss = std::max(peak_rss, ReadMemory(actor.child->pid()).rss);
        steps = ActorSteps(actor);
        const std::string log = c.learner().child->ReadLog().substr(learner_log_at_stop);
        return steps >= steps_at_stop + steps_needed &&
               Updates(c.learner()) >= updates_at_stop + 200 &&
               log.find("replay shard 1") != std::string::npos;
      },
      absl::Seconds(120), kPoll);
  const Memory during = ReadMemory(actor.child->pid());
  const std::string actor_log = actor.child->ReadLog().substr(actor_log_at_stop);
  const std::string learner_log = c.learner().child->ReadLog().substr(learner_log_at_stop);
  const absl::Duration frozen = absl::Now() - stopped_at;
  EXPECT_TRUE(held) << "while shard 1 was frozen: actor steps " << steps - steps_at_stop << " of "
                    << steps_needed << ", learner updates "
                    << Updates(c.learner()) - updates_at_stop << " of 200, learner log since:\n"
                    << learner_log;
  // The learner's waits on the frozen shard ended at their deadlines: it left
  // the shard out once (one message, no storm) and kept updating.
  EXPECT_EQ(CountLines(learner_log, "replay shard 1"), 1u) << learner_log;
  EXPECT_THAT(learner_log, HasSubstr("does not answer"));
  // The actor kept inserting into shard 0, quietly (a stream that hangs is no error).
  EXPECT_GE(ActorAcked(actor, 0), acked0_at_stop + static_cast<double>(steps_needed) / 4);
  EXPECT_LE(CountLines(actor_log, "\n"), 3u) << actor_log;
  EXPECT_TRUE(actor.child->running());
  // Memory within the bound.
  ASSERT_GT(during.hwm, 0);
  EXPECT_LE(peak_rss - before.rss, bound)
      << "actor RSS grew from " << before.rss << " to " << peak_rss << " while a shard was frozen";
  EXPECT_LE(during.hwm - before.hwm, bound)
      << "actor peak RSS grew from " << before.hwm << " to " << during.hwm;

  // Thawed: the shard takes the actor's batches and the learner's samples again.
  const double acked1_at_cont = ActorAcked(actor, 1);
  guard.Continue();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return ActorAcked(actor, 1) >= acked1_at_cont + 20 * kBatchRows; }, kMust, kPoll))
      << "the actor did not insert into the thawed shard again";
  // The learner finds it again (a probe answered) and samples from it. The
  // thawed shard first serves the requests that queued up while it was frozen
  // (their callers gave up long ago), so only growth after the learner took
  // it back counts: at least 20 learner batches' worth.
  const std::string again = "replay shard 1 (" + c.shard(1).address() + ") answers again";
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return c.learner().child->ReadLog().find(again, learner_log_at_stop) != std::string::npos;
      },
      kMust, kPoll))
      << "the learner did not take the thawed shard back; its log: "
      << c.learner().child->ReadLog().substr(learner_log_at_stop);
  const uint64_t samples1_back = std::max(ShardSamples(c.shard(1)), samples1_before);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return ShardSamples(c.shard(1)) >= samples1_back + uint64_t{20} * 64; }, kMust, kPoll))
      << "the learner does not sample from the thawed shard; its log: "
      << c.learner().child->ReadLog().substr(learner_log_at_stop);
  for (Process* p : {&c.shard(0), &c.shard(1), &c.learner(), &c.actor(0)}) {
    EXPECT_TRUE(p->child->running()) << p->name;
  }
  SAC_LOG(INFO) << "FIGURES partition: frozen_s=" << absl::ToDoubleSeconds(frozen)
                << " actor_steps_while_frozen=" << steps - steps_at_stop
                << " steps_needed=" << steps_needed << " row_bytes=" << row_bytes
                << " bound_bytes=" << bound << " rss_before=" << before.rss
                << " rss_peak=" << peak_rss << " hwm_before=" << before.hwm
                << " hwm_after=" << during.hwm
                << " learner_updates_while_frozen=" << Updates(c.learner()) - updates_at_stop;
  c.Stop();
}

// 4. Actors connect and leave at random (seeded): up to 12 extra actor
// processes started and SIGKILLed or SIGTERMed at random moments over 20 s.
// The shards and the learner keep serving, their counters never go back, an
// actor stopped with SIGTERM exits cleanly, and at the end the two steady
// actors still insert and receive new policy versions, and the learner holds
// exactly their two policy streams.
TEST(Faults, ActorsComingAndGoingAtRandom) {
  v1::LocalCommand command = Command("faults_churn", "InvertedPendulum-v5", 2, 2);
  // With the shards' rate limiters on (16 sampled rows per inserted row) the
  // actors wait on the learner instead of 14 of them stepping at full speed on
  // the test machine's cores; the churn is the same.
  command.set_samples_per_insert(16);
  auto cluster = LocalCluster::Start(command, BinDir());
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  LocalCluster& c = **cluster;
  ASSERT_TRUE(testing::WaitFor([&] { return Updates(c.learner()) >= 50; }, kMust, kPoll))
      << c.learner().child->ReadLog();

  struct Extra {
    std::unique_ptr<ChildProcess> child;
    std::string port_file;
    int signal = 0;
    bool serving_when_signalled = false;
  };
  std::vector<Extra> live, gone;
  const std::string replay_list = c.shard(0).address() + "," + c.shard(1).address();
  constexpr uint32_t kSeed = 20260409;
  std::mt19937 rng(kSeed);
  int started = 0, killed = 0, terminated = 0;
  size_t most_extra = 0;  // most extra actors alive at once
  auto start_actor = [&] {
    Extra e;
    e.port_file = absl::StrCat(command.run_dir(), "/ports/extra-", started);
    auto child = ChildProcess::Start(
        {testing::BinaryPath("sac-actor"), "--server.grpc_address=127.0.0.1:0",
         "--server.metrics_address=127.0.0.1:0", "--server.port_file=" + e.port_file,
         absl::StrCat("--actor_id=", 100 + started), "--env.task=" + command.task(),
         absl::StrCat("--env.seed=", 5000 + started), "--replay_addresses=" + replay_list,
         "--learner_address=" + c.learner().address(), "--random_steps=200",
         "--client.max_backoff_seconds=2"},
        absl::StrCat(command.run_dir(), "/logs/extra-", started, ".log"));
    ASSERT_TRUE(child.ok()) << child.status();
    e.child = std::move(*child);
    live.push_back(std::move(e));
    ++started;
  };
  auto stop_actor = [&] {
    const size_t i = std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng);
    Extra e = std::move(live[i]);
    live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    e.signal = std::bernoulli_distribution(0.5)(rng) ? SIGKILL : SIGTERM;
    // SIGTERM before main() installed its handler kills it like SIGKILL.
    e.serving_when_signalled = std::ifstream(e.port_file).good();
    e.child->Signal(e.signal);
    (e.signal == SIGKILL ? killed : terminated)++;
    gone.push_back(std::move(e));
  };

  // The servers' counters, checked between events: they answer, and no
  // counter goes back. A server must answer within 10 s; a call that fails is
  // tried again until then (the test process's own new connections sometimes
  // fail at once while it forks actors; the servers' answers take milliseconds).
  struct Counters {
    uint64_t updates = 0, version = 0;
    uint64_t inserts[2] = {0, 0}, samples[2] = {0, 0};
  } last;
  int polls = 0, failed_polls = 0, retried_calls = 0, regressions = 0;
  std::string poll_errors;
  auto answer = [&](auto call) {
    auto result = call();
    if (!result.ok()) {
      testing::WaitFor(
          [&] {
            ++retried_calls;
            result = call();
            return result.ok();
          },
          absl::Seconds(10), kPoll);
    }
    if (!result.ok()) poll_errors += result.status().ToString() + "\n";
    return result;
  };
  auto check_servers = [&] {
    ++polls;
    auto l = answer([&] { return sacctl::GetLearnerStatus(c.learner().address(), Client()); });
    auto s0 = answer([&] { return ShardStatus(c.shard(0)); });
    auto s1 = answer([&] { return ShardStatus(c.shard(1)); });
    if (!l.ok() || !s0.ok() || !s1.ok()) {
      ++failed_polls;
      return;
    }
    Counters now{l->updates(),
                 l->policy_version(),
                 {s0->inserts_total(), s1->inserts_total()},
                 {s0->samples_total(), s1->samples_total()}};
    if (now.updates < last.updates || now.version < last.version) ++regressions;
    for (int i = 0; i < 2; ++i) {
      if (now.inserts[i] < last.inserts[i] || now.samples[i] < last.samples[i]) ++regressions;
    }
    last = now;
  };

  const absl::Time end = absl::Now() + absl::Seconds(20);
  while (absl::Now() < end) {
    const absl::Time next =
        absl::Now() + absl::Milliseconds(std::uniform_int_distribution<int>(100, 900)(rng));
    // Until the next event, watch the servers.
    testing::WaitFor(
        [&] {
          check_servers();
          return absl::Now() >= next;
        },
        absl::Seconds(60), kPoll);
    if (live.size() < 3 || (live.size() < 12 && std::bernoulli_distribution(0.55)(rng))) {
      start_actor();
      most_extra = std::max(most_extra, live.size());
    } else {
      stop_actor();
    }
  }
  while (!live.empty()) stop_actor();
  int clean_exits = 0;
  for (Extra& e : gone) {
    auto status = e.child->WaitForExit(absl::Seconds(60));
    ASSERT_TRUE(status.has_value()) << e.child->log_path() << " did not exit";
    if (e.signal == SIGTERM && e.serving_when_signalled) {
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "an actor stopped with SIGTERM did not exit cleanly: " << e.child->ReadLog();
      ++clean_exits;
    } else {
      EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == e.signal) << e.child->ReadLog();
    }
  }
  EXPECT_GE(started, 8);
  EXPECT_EQ(failed_polls, 0) << "of " << polls << " polls of the learner and shards:\n"
                             << poll_errors;
  EXPECT_EQ(regressions, 0) << "of " << polls << " polls";
  for (Process* p : {&c.shard(0), &c.shard(1), &c.learner()}) {
    EXPECT_TRUE(p->child->running()) << p->name << ": " << p->child->ReadLog();
  }
  // The steady actors still insert into both shards and get new versions; the
  // learner's policy streams of the departed actors are gone.
  for (size_t a = 0; a < c.num_actors(); ++a) {
    auto s = ActorStatus(c.actor(a));
    ASSERT_TRUE(s.ok()) << s.status();
    const double acked0 = ActorAcked(c.actor(a), 0), acked1 = ActorAcked(c.actor(a), 1);
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          return ActorAcked(c.actor(a), 0) >= acked0 + 500 &&
                 ActorAcked(c.actor(a), 1) >= acked1 + 500;
        },
        kMust, kPoll))
        << "actor " << a << " no longer inserts";
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          auto now = ActorStatus(c.actor(a));
          return now.ok() && now->policy_version() > s->policy_version();
        },
        kMust, kPoll))
        << "actor " << a << " gets no new policy versions";
  }
  EXPECT_TRUE(testing::WaitFor(
      [&] { return LearnerMetric(c.learner(), "sac_learner_policy_watchers") == 2; }, kMust, kPoll))
      << "policy watchers: " << LearnerMetric(c.learner(), "sac_learner_policy_watchers");
  SAC_LOG(INFO) << "FIGURES churn: seed=" << kSeed << " actors_started=" << started
                << " sigkilled=" << killed << " sigtermed=" << terminated
                << " sigterm_clean_exits=" << clean_exits << " most_live=" << most_extra
                << " polls=" << polls << " retried_calls=" << retried_calls
                << " shard_inserts=" << last.inserts[0] + last.inserts[1]
                << " learner_updates=" << last.updates;
  c.Stop();
}

}  // namespace
}  // namespace sac
