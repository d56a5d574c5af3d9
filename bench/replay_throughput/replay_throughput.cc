// Replay throughput over loopback gRPC, HalfCheetah-sized rows (obs 17, act 6):
// insert rows/s (ReplayWriter, batches of 256), sample rows/s (ReplaySampler,
// batch 256), both at once in two mixes (free, a stress figure, and the
// paper's 256 sampled rows per inserted row, the operating point whose ratio
// to raw is a target), and the latency of one batch-256 sample, for 1, 2
// and 4 shards, on full tables. Beside each, the same clients against a raw
// service with the same proto and a trivial handler (acks without storing;
// answers a sample by copying prebuilt bytes), measured in the same run: the
// gRPC ceiling.
//
// Usage: replay_throughput [--seconds=S] [--durable] [--shard_only] [--shards=N]
//                          [--service=both|ours|raw]
//                          [--phase=all|insert|sample|both|paced|latency]
//                          [--repeats=R] [--capacity=ROWS]
//   --seconds=S: length of each phase (default 2);
//   --durable: shards log with fsync=batch, and a snapshot is timed;
//   --shard_only: only the shard alone (no gRPC) figures;
//   --shards=N: only N shards (default 1, 2 and 4);
//   --service=ours|raw: only one of the two services (for profiling one);
//   --phase=...: only that phase (to profile it): `both` is inserts and
//     samples at once, each as fast as it goes; `paced` at 256:1;
//   --capacity=ROWS: rows per shard's table (default 1e6);
//   --repeats=R: every phase R times per shard count (default 3), each time
//     on one service and right after on the other, alternating which goes
//     first; each figure is the median of its R values, each ratio the median
//     of the R ratios of those back-to-back pairs, with their range: the
//     shared machine's speed drifts by 10-30% within a minute, and pairing
//     and alternating keep that drift from favouring either service.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/server.h"
#include "common/task_shape.h"
#include "replay_client/replay_sampler.h"
#include "replay_client/replay_writer.h"
#include "replay_server/replay_service.h"
#include "replay_server/sample_wire.h"
#include "replay_server/shard.h"
#include "replay_server/test_batches.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {
namespace {

// HalfCheetah's rows (common/task_shape.h).
constexpr int64_t kObs = LookupTaskShape("HalfCheetah-v5")->obs_dim;
constexpr int64_t kAct = LookupTaskShape("HalfCheetah-v5")->act_dim;
constexpr int64_t kBatch = 256;
// Rows per shard's table (--capacity).
int64_t g_capacity = 1000000;

// The raw reference: same service and messages, no table, no validation. Its
// keys count up as ours' do (from a table of `rows` already full), so that
// its acks and samples carry keys of the same size on the wire.
class RawService final : public v1::ReplayService::CallbackService {
 public:
  explicit RawService(int64_t rows) : rows_(rows), next_key_(static_cast<uint64_t>(rows)) {
    const auto b = testing::MakeBatch(0, 4096, kObs, kAct);
    bytes_ = b;
  }

  grpc::ServerBidiReactor<v1::InsertRequest, v1::InsertResponse>* Insert(
      grpc::CallbackServerContext*) override {
    return new RawInsert(this);
  }

  grpc::ServerUnaryReactor* Sample(grpc::CallbackServerContext* context,
                                   const v1::SampleRequest* request,
                                   v1::SampleResponse* response) override {
    const int64_t n = std::min<int64_t>(request->batch_size(), 4096);
    v1::TransitionBatch* b = response->mutable_batch();
    auto copy = [n](const v1::Tensor& from, int64_t width, v1::Tensor* to) {
      to->add_shape(n);
      if (width > 1) to->add_shape(width);
      to->set_data(from.data().data(), static_cast<size_t>(n * width * 4));
    };
    copy(bytes_.obs(), kObs, b->mutable_obs());
    copy(bytes_.action(), kAct, b->mutable_action());
    copy(bytes_.reward(), 1, b->mutable_reward());
    copy(bytes_.next_obs(), kObs, b->mutable_next_obs());
    b->set_terminated(bytes_.terminated().substr(0, static_cast<size_t>(n)));
    b->set_truncated(bytes_.truncated().substr(0, static_cast<size_t>(n)));
    b->mutable_policy_version()->Add(bytes_.policy_version().begin(),
                                     bytes_.policy_version().begin() + n);
    b->mutable_actor_id()->Add(bytes_.actor_id().begin(), bytes_.actor_id().begin() + n);
    // Keys spread over the newest `rows_`, as a uniform draw from a full table.
    const uint64_t top = next_key_.load(std::memory_order_relaxed);
    const uint64_t step = static_cast<uint64_t>(rows_ / n);
    auto* keys = response->mutable_key();
    keys->Resize(static_cast<int>(n), 0);
    for (int64_t i = 0; i < n; ++i) keys->Set(static_cast<int>(i), top - 1 - i * step);
    copy(bytes_.reward(), 1, response->mutable_probability());
    response->set_table_size(static_cast<uint64_t>(rows_));
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::ReplayStatusRequest*,
                                      v1::ReplayStatus* response) override {
    response->set_size(static_cast<uint64_t>(rows_));
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  // Reads the next batch as soon as one is read; acks go out one write at a time.
  class RawInsert final : public grpc::ServerBidiReactor<v1::InsertRequest, v1::InsertResponse> {
   public:
    explicit RawInsert(RawService* service) : service_(service) { StartRead(&request_); }
    void OnReadDone(bool ok) override {
      absl::MutexLock l(&mu_);
      if (!ok) {
        done_reading_ = true;
        MaybeFinish();
        return;
      }
      v1::InsertResponse& ack = acks_.emplace_back();
      ack.set_sequence(request_.sequence());
      const auto rows = static_cast<uint64_t>(
          request_.batch().reward().shape_size() > 0 ? request_.batch().reward().shape(0) : 0);
      ack.set_first_key(service_->next_key_.fetch_add(rows, std::memory_order_relaxed));
      ack.set_table_size(static_cast<uint64_t>(service_->rows_));
      MaybeWrite();
      StartRead(&request_);
    }
    void OnWriteDone(bool ok) override {
      absl::MutexLock l(&mu_);
      writing_ = false;
      acks_.pop_front();
      if (!ok) broken_ = true;
      MaybeWrite();
      MaybeFinish();
    }
    void OnDone() override { delete this; }

   private:
    void MaybeWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (writing_ || acks_.empty() || broken_) return;
      writing_ = true;
      StartWrite(&acks_.front());
    }
    void MaybeFinish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      if (finished_ || writing_ || !done_reading_) return;
      if (!acks_.empty() && !broken_) return;
      finished_ = true;
      Finish(grpc::Status::OK);
    }
    RawService* const service_;
    v1::InsertRequest request_;
    absl::Mutex mu_;
    std::deque<v1::InsertResponse> acks_ ABSL_GUARDED_BY(mu_);
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool done_reading_ ABSL_GUARDED_BY(mu_) = false;
    bool broken_ ABSL_GUARDED_BY(mu_) = false;
    bool finished_ ABSL_GUARDED_BY(mu_) = false;
  };

  const int64_t rows_;
  std::atomic<uint64_t> next_key_;
  v1::TransitionBatch bytes_;
};

struct Server {
  MetricsRegistry registry;
  std::unique_ptr<ReplayShard> shard;      // null for the raw service
  std::unique_ptr<ResponseBudget> budget;  // null for the raw service
  std::unique_ptr<grpc::Service> service;
  ServingEndpoints endpoints;
  std::string address;
};

std::unique_ptr<Server> StartServer(bool raw, bool durable, int index, const std::string& dir) {
  auto s = std::make_unique<Server>();
  if (raw) {
    s->service = std::make_unique<RawService>(g_capacity);
  } else {
    ShardOptions o;
    o.shard_index = static_cast<uint32_t>(index);
    o.table.spec = {kObs, kAct};
    o.table.capacity = g_capacity;
    o.limiter = {1, 0, 0};  // measure the shard, not the ratio
    o.durable = durable;
    o.data_dir = absl::StrCat(dir, "/shard", index);
    o.wal.fsync = FsyncPolicy::kBatch;
    auto shard = ReplayShard::Create(o, &s->registry);
    if (!shard.ok()) {
      std::fprintf(stderr, "shard: %s\n", shard.status().ToString().c_str());
      std::exit(1);
    }
    s->shard = std::move(*shard);
    // The bound on unread answers, as sac-replay has it (the config's defaults).
    s->budget = MakeResponseBudget(v1::ServerConfig(), &s->registry);
    s->service = std::make_unique<ReplayService>(s->shard.get(), "", s->budget.get());
  }
  v1::ServerConfig config;
  config.set_grpc_address("127.0.0.1:0");
  config.set_metrics_address("");
  config.set_max_message_bytes(64 << 20);
  auto endpoints = StartServing(config, {s->service.get()}, &s->registry, "");
  if (!endpoints.ok()) std::exit(1);
  s->endpoints = std::move(*endpoints);
  s->address = absl::StrCat("127.0.0.1:", s->endpoints.grpc_port);
  return s;
}

// CPU seconds used by this whole process (clients and servers) so far.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Context switches of every thread of this process so far.
double ProcessContextSwitches() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_nvcsw + u.ru_nivcsw);
}

struct Figures {
  double insert = 0, sample = 0, both_insert = 0, both_sample = 0, p50_us = 0, p99_us = 0;
  // Inserted and sampled rows/s at the paper's ratio (RunPaced).
  double paced_insert = 0, paced_sample = 0;
  // Rows per CPU-second of the process (clients + servers): what a row costs,
  // independent of how much of the machine the bench got (it shares its cores).
  double insert_cpu = 0, sample_cpu = 0;
  double server_sample_us = 0;  // mean time in the shard per sample call (ours only)
  // Inserts and samples at once: CPU-seconds the process used per second (how
  // much of the machine the phase kept busy).
  double both_cores = 0;
  // Context switches per 256 rows (inserted or sampled) in the free mix.
  double both_switches = 0;
};

// The median of each figure over repeated runs (the upper one of an even count).
Figures Median(std::vector<Figures> runs) {
  Figures m;
  auto median = [&runs](double Figures::*field) {
    std::vector<double> v;
    v.reserve(runs.size());
    for (const Figures& f : runs) v.push_back(f.*field);
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (double Figures::*field :
       {&Figures::insert, &Figures::sample, &Figures::both_insert, &Figures::both_sample,
        &Figures::paced_insert, &Figures::paced_sample, &Figures::p50_us, &Figures::p99_us,
        &Figures::insert_cpu, &Figures::sample_cpu, &Figures::server_sample_us,
        &Figures::both_cores, &Figures::both_switches}) {
    m.*field = median(field);
  }
  return m;
}

// `per_shard` writers to each server, up to 32 batches in flight each.
std::vector<std::unique_ptr<ReplayWriter>> MakeWriters(
    const std::vector<std::unique_ptr<Server>>& servers, int per_shard) {
  std::vector<std::unique_ptr<ReplayWriter>> writers;
  for (const auto& s : servers) {
    for (int w = 0; w < per_shard; ++w) {
      WriterOptions o;
      o.address = s->address;
      o.max_in_flight_batches = 32;
      writers.push_back(std::move(*ReplayWriter::Create(o)));
    }
  }
  return writers;
}

// Rows/s acked by `writers_per_shard` writers per shard for `seconds`.
double RunInserts(const std::vector<std::unique_ptr<Server>>& servers, int writers_per_shard,
                  absl::Duration seconds, double* per_cpu_second = nullptr) {
  const auto batch = testing::MakeBatch(0, kBatch, kObs, kAct);
  auto writers = MakeWriters(servers, writers_per_shard);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  const double cpu_start = ProcessCpuSeconds();
  threads.reserve(writers.size());
  for (auto& w : writers) {
    threads.emplace_back([&, wp = w.get()] {
      while (!stop.load()) {
        if (!wp->Write(batch, absl::Milliseconds(100)).ok()) continue;
      }
    });
  }
  absl::SleepFor(seconds);
  stop = true;
  for (auto& t : threads) t.join();
  uint64_t rows = 0;
  for (auto& w : writers) rows += w->stats().acked_rows;
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  if (per_cpu_second) {
    *per_cpu_second = static_cast<double>(rows) / (ProcessCpuSeconds() - cpu_start);
  }
  for (auto& w : writers) (void)w->Flush(absl::Seconds(30));
  return static_cast<double>(rows) / elapsed;
}

double RunSamples(ReplaySampler* sampler, int threads_n, absl::Duration seconds,
                  double* per_cpu_second = nullptr) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rows{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  const double cpu_start = ProcessCpuSeconds();
  threads.reserve(threads_n);
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto s = sampler->Sample(kBatch, absl::Seconds(10));
        if (s.ok()) rows += kBatch;
      }
    });
  }
  absl::SleepFor(seconds);
  stop = true;
  for (auto& t : threads) t.join();
  if (per_cpu_second) {
    *per_cpu_second = static_cast<double>(rows.load()) / (ProcessCpuSeconds() - cpu_start);
  }
  return static_cast<double>(rows.load()) / absl::ToDoubleSeconds(absl::Now() - start);
}

// Samples and inserts at the paper's update-to-data ratio (DESIGN.md): one
// batch-256 sample per inserted row, i.e. the samplers insert one batch of 256
// rows after every 256 sample batches, round-robin over the shards. The same
// pacing runs against both services (the shards' own rate limiters are off),
// so both serve the same mix. Rows/s sampled and inserted (acked).
void RunPaced(const std::vector<std::unique_ptr<Server>>& servers, ReplaySampler* sampler,
              int threads_n, absl::Duration seconds, double* inserted, double* sampled) {
  const auto batch = testing::MakeBatch(0, kBatch, kObs, kAct);
  auto writers = MakeWriters(servers, 1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> batches{0}, rows{0};
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  threads.reserve(threads_n);
  for (int t = 0; t < threads_n; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        if (!sampler->Sample(kBatch, absl::Seconds(10)).ok()) continue;
        rows += kBatch;
        const uint64_t n = batches.fetch_add(1) + 1;
        if (n % kBatch == 0) {
          (void)writers[(n / kBatch) % writers.size()]->Write(batch, absl::Milliseconds(100));
        }
      }
    });
  }
  absl::SleepFor(seconds);
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  uint64_t acked = 0;
  for (auto& w : writers) acked += w->stats().acked_rows;
  *inserted = static_cast<double>(acked) / elapsed;
  *sampled = static_cast<double>(rows.load()) / elapsed;
  for (auto& w : writers) (void)w->Flush(absl::Seconds(30));
}

void StopServers(const std::vector<std::unique_ptr<Server>>& servers) {
  for (auto& s : servers) {
    if (s->shard) s->shard->StopAdmitting();
    s->endpoints.grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    if (s->shard) (void)s->shard->Close();
  }
}

// One service's shards and the sampler over them.
struct Side {
  bool raw = false;
  std::vector<std::unique_ptr<Server>> servers;
  std::unique_ptr<ReplaySampler> sampler;
};

// Fills every table of `side` (ours; the raw service has none), so that every
// phase measures a full table, as a long-running buffer is.
void Fill(const Side& side) {
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  for (;;) {
    bool full = true;
    for (const auto& s : side.servers) {
      if (s->shard && s->shard->table()->size() < s->shard->table()->capacity()) full = false;
    }
    if (full || absl::Now() > give_up) return;
    RunInserts(side.servers, 2, absl::Milliseconds(250));
  }
}

// Batch-256 sample latency of one caller for `seconds` (at least 200 samples),
// appended to `us`.
void RunLatency(ReplaySampler* sampler, absl::Duration seconds, std::vector<double>* us) {
  const absl::Time end = absl::Now() + seconds;
  for (size_t n = 0; absl::Now() < end || n < 200;) {
    const absl::Time t0 = absl::Now();
    if (sampler->Sample(kBatch, absl::Seconds(10)).ok()) {
      us->push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
      ++n;
    }
  }
}

// One phase ("insert", "sample", "both", "paced" or "latency") of `seconds`
// against one side, into `f`.
void RunPhase(const Side& side, const std::string& phase, absl::Duration seconds, Figures* f) {
  if (phase == "insert") {
    f->insert = RunInserts(side.servers, 2, seconds, &f->insert_cpu);
  } else if (phase == "sample") {
    f->sample = RunSamples(side.sampler.get(), 4, seconds, &f->sample_cpu);
  } else if (phase == "both") {
    // Both at once, each as fast as it goes: the scheduler sets the mix.
    std::atomic<double> ins{0};
    const double cpu_start = ProcessCpuSeconds();
    const double switches_start = ProcessContextSwitches();
    const absl::Time start = absl::Now();
    std::thread t([&] { ins = RunInserts(side.servers, 2, seconds); });
    f->both_sample = RunSamples(side.sampler.get(), 4, seconds);
    t.join();
    f->both_cores = (ProcessCpuSeconds() - cpu_start) / absl::ToDoubleSeconds(absl::Now() - start);
    f->both_insert = ins.load();
    const double rows =
        (f->both_insert + f->both_sample) * absl::ToDoubleSeconds(absl::Now() - start);
    f->both_switches = (ProcessContextSwitches() - switches_start) / (rows / kBatch);
  } else if (phase == "paced") {
    RunPaced(side.servers, side.sampler.get(), 4, seconds, &f->paced_insert, &f->paced_sample);
  } else if (phase == "latency") {
    std::vector<double> us;
    RunLatency(side.sampler.get(), seconds, &us);
    std::sort(us.begin(), us.end());
    f->p50_us = us[us.size() / 2];
    f->p99_us = us[us.size() * 99 / 100];
  }
}

// `repeats` runs of every phase (or only `phase`) for both services (or only
// the one in `service`) with `shards` shards each. Both services' servers run
// side by side in this process (the one not being measured is idle), their
// tables are filled first, and each phase runs on one service and then right
// away on the other, alternating which goes first: the two figures of a pair
// are seconds apart, so the shared machine's drift (10-30% within a minute)
// falls on both alike. One Figures per repeat for each service run.
void Measure(const std::string& service, bool durable, int shards, absl::Duration seconds,
             const std::string& dir, const std::string& phase, int repeats,
             std::vector<Figures>* ours_runs, std::vector<Figures>* raw_runs) {
  std::vector<Side> sides;
  for (bool raw : {false, true}) {
    if (service == (raw ? "ours" : "raw")) continue;
    Side& side = sides.emplace_back();
    side.raw = raw;
    for (int i = 0; i < shards; ++i) {
      side.servers.push_back(StartServer(raw, !raw && durable, i, dir));
    }
    Fill(side);
    SamplerOptions so;
    for (const auto& s : side.servers) so.addresses.push_back(s->address);
    so.obs_dim = kObs;
    so.act_dim = kAct;
    side.sampler = std::move(*ReplaySampler::Create(so));
    (void)side.sampler->Status(absl::Seconds(10));  // sizes for the first split
  }
  std::vector<std::string> phases = {"insert", "sample", "both", "paced", "latency"};
  if (phase != "all") phases = {phase};
  for (const Side& side : sides) {
    (side.raw ? raw_runs : ours_runs)->resize(static_cast<size_t>(repeats));
  }
  for (int r = 0; r < repeats; ++r) {
    for (const std::string& p : phases) {
      for (size_t k = 0; k < sides.size(); ++k) {
        // Alternate which service goes first.
        const Side& side = sides[r % 2 == 0 ? k : sides.size() - 1 - k];
        RunPhase(side, p, seconds, &(side.raw ? *raw_runs : *ours_runs)[r]);
      }
    }
  }
  for (const Side& side : sides) {
    if (side.raw || phase != "all") continue;
    // Mean time inside the shards per sample call, over all phases.
    double us = 0;
    for (const auto& s : side.servers) {
      const Histogram* h = s->shard->metrics()->sample_latency;
      us += 1e6 * h->Sum() / std::max<uint64_t>(1, h->Count()) / side.servers.size();
    }
    for (Figures& f : *ours_runs) f.server_sample_us = us;
  }
  for (const Side& side : sides) StopServers(side.servers);
}

// CPU seconds used by the calling thread so far.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The shard alone, no gRPC: validated inserts of 256 rows and samples of 256
// on one thread (what the table and limiter cost per row), per CPU-second of
// that thread, so the figure does not depend on how busy the machine is.
void MeasureDirect(absl::Duration seconds) {
  ShardOptions o;
  o.table.spec = {kObs, kAct};
  o.table.capacity = 1000000;
  o.limiter = {1, 0, 0};
  auto shard = std::move(*ReplayShard::Create(o, nullptr));
  const auto batch = testing::MakeBatch(0, kBatch, kObs, kAct);
  uint64_t rows = 0;
  absl::Time start = absl::Now();
  double cpu = ThreadCpuSeconds();
  while (absl::Now() - start < seconds) {
    for (int i = 0; i < 64; ++i) {
      auto v = ValidateBatch(batch, shard->table()->spec(), 1 << 20);
      (void)shard->limiter()->Insert(kBatch, absl::InfiniteFuture());
      shard->Insert(v->rows, [](const absl::Status&, uint64_t, int64_t) {});
      rows += kBatch;
    }
  }
  const double insert = rows / (ThreadCpuSeconds() - cpu);
  // The two parts of an insert, each alone: validating a batch, and storing a
  // validated one (limiter + table).
  auto cpu_us_per_batch = [&](auto&& body) {
    const double c0 = ThreadCpuSeconds();
    const absl::Time t0 = absl::Now();
    int64_t batches = 0;
    while (absl::Now() - t0 < seconds / 4) {
      for (int i = 0; i < 64; ++i) body();
      batches += 64;
    }
    return 1e6 * (ThreadCpuSeconds() - c0) / static_cast<double>(batches);
  };
  const double validate_us = cpu_us_per_batch([&] {
    auto v = ValidateBatch(batch, shard->table()->spec(), 1 << 20);
    if (!v.ok()) std::abort();
  });
  const auto validated = ValidateBatch(batch, shard->table()->spec(), 1 << 20);
  const double store_us = cpu_us_per_batch([&] {
    (void)shard->limiter()->Insert(kBatch, absl::InfiniteFuture());
    shard->Insert(validated->rows, [](const absl::Status&, uint64_t, int64_t) {});
  });
  rows = 0;
  start = absl::Now();
  cpu = ThreadCpuSeconds();
  // Into the column buffers the service encodes its answer from.
  SampleResponseWriter out;
  out.Reset(shard->table()->spec(), kBatch);
  while (absl::Now() - start < seconds) {
    for (int i = 0; i < 64; ++i) {
      (void)shard->limiter()->Sample(kBatch, absl::InfiniteFuture());
      (void)shard->SampleInto(kBatch, out.columns());
      rows += kBatch;
    }
  }
  const double sample = rows / (ThreadCpuSeconds() - cpu);
  std::printf(
      "shard alone (no gRPC, 1 thread, %ld rows held): insert %.0f rows/cpu-s (%.1f us per "
      "batch of %ld: validate %.1f, store %.1f), sample %.0f rows/cpu-s (%.1f us per batch)\n",
      static_cast<long>(shard->table()->size()), insert, 1e6 * kBatch / insert,
      static_cast<long>(kBatch), validate_us, store_us, sample, 1e6 * kBatch / sample);
}

// A full 1e6-row table: the copy made under the insert lock, and a whole
// snapshot (copy + write + fsync + rename).
void MeasureSnapshot(const std::string& dir) {
  ShardOptions o;
  o.table.spec = {kObs, kAct};
  o.table.capacity = 1000000;
  o.limiter = {1, 0, 0};
  o.durable = true;
  o.data_dir = dir + "/snapshot_bench";
  o.wal.fsync = FsyncPolicy::kNone;
  auto shard = std::move(*ReplayShard::Create(o, nullptr));
  const auto batch = testing::MakeBatch(0, 4096, kObs, kAct);
  auto v = ValidateBatch(batch, shard->table()->spec(), 1 << 20);
  for (int i = 0; i < 245; ++i) {
    shard->Insert(v->rows, [](const absl::Status&, uint64_t, int64_t) {});
  }
  absl::Time t0 = absl::Now();
  const absl::Status first = shard->Snapshot();  // allocates the copy buffer
  const double first_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  TableContents copy;
  shard->table()->CopyInto(&copy);  // warm buffer, as in the shard's second snapshot
  t0 = absl::Now();
  shard->table()->CopyInto(&copy);
  const double copy_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  t0 = absl::Now();
  absl::Status s = shard->Snapshot();
  const double snap_ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
  if (s.ok()) s = first;
  std::printf("first snapshot (allocating its copy) %.0f ms\n", first_ms);
  std::printf(
      "snapshot of %ld rows (%.0f MB): copy under the insert lock %.0f ms, whole snapshot "
      "%.0f ms (%s), later snapshots\n",
      static_cast<long>(copy.size), copy.size * TableSpec{kObs, kAct}.row_bytes() / 1e6, copy_ms,
      snap_ms, s.ok() ? "ok" : s.ToString().c_str());
}

// The benchmark; main() only forwards to it.
int Main(int argc, char** argv) {
  double seconds = 2;
  bool durable = false, shard_only = false;
  std::string phase = "all";
  std::vector<int> shard_counts = {1, 2, 4};
  std::string service = "both";
  int repeats = 3;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, "--seconds=")) {
      if (!absl::SimpleAtod(a, &seconds)) return 2;
    } else if (absl::ConsumePrefix(&a, "--capacity=")) {
      if (!absl::SimpleAtoi(a, &g_capacity) || g_capacity < 4096 || g_capacity > 100000000) {
        std::fprintf(stderr, "--capacity: '%s', expected 4096..100000000 rows\n",
                     std::string(a).c_str());
        return 2;
      }
    } else if (a == "--durable") {
      durable = true;
    } else if (absl::ConsumePrefix(&a, "--phase=")) {
      if (a != "all" && a != "insert" && a != "sample" && a != "both" && a != "paced" &&
          a != "latency") {
        std::fprintf(stderr,
                     "--phase: '%s', expected all, insert, sample, both, paced or latency\n",
                     std::string(a).c_str());
        return 2;
      }
      phase = std::string(a);
    } else if (a == "--shard_only") {
      shard_only = true;
    } else if (absl::ConsumePrefix(&a, "--shards=")) {
      int n = 0;
      if (!absl::SimpleAtoi(a, &n) || n < 1 || n > 64) {
        std::fprintf(stderr, "--shards: '%s', expected 1..64\n", std::string(a).c_str());
        return 2;
      }
      shard_counts = {n};
    } else if (absl::ConsumePrefix(&a, "--repeats=")) {
      if (!absl::SimpleAtoi(a, &repeats) || repeats < 1 || repeats > 100) {
        std::fprintf(stderr, "--repeats: '%s', expected 1..100\n", std::string(a).c_str());
        return 2;
      }
    } else if (absl::ConsumePrefix(&a, "--service=")) {
      if (a != "both" && a != "ours" && a != "raw") {
        std::fprintf(stderr, "--service: '%s', expected both, ours or raw\n",
                     std::string(a).c_str());
        return 2;
      }
      service = std::string(a);
    } else {
      std::fprintf(stderr,
                   "usage: replay_throughput [--seconds=S] [--durable] [--shard_only] [--shards=N] "
                   "[--service=both|ours|raw] [--phase=all|insert|sample|both|paced|latency] "
                   "[--repeats=R] "
                   "[--capacity=ROWS]\n");
      return 2;
    }
  }
  // The shards run as in sac-replay (common/server.h), for both services.
  sac::SkipMutexDeadlockGraph();
  char tmpl[] = "/tmp/replay_bench_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  std::printf(
      "replay_throughput: HalfCheetah rows (obs %ld, act %ld, %ld bytes in the table), "
      "batch %ld, tables of %ld rows, %.1f s per phase, median of %d runs, durability %s\n",
      static_cast<long>(kObs), static_cast<long>(kAct),
      static_cast<long>(TableSpec{kObs, kAct}.row_bytes()), static_cast<long>(kBatch),
      static_cast<long>(g_capacity), seconds, repeats, durable ? "on (fsync=batch)" : "off");
  if (phase == "all") MeasureDirect(absl::Seconds(seconds));
  if (durable) MeasureSnapshot(dir);
  if (shard_only) shard_counts.clear();
  if (!shard_only) {
    std::printf(
        "insert+sample: inserts and samples at once; free mix: each as fast as it goes "
        "(the scheduler sets the split; a stress figure); 256:1: one batch-256 sample per "
        "inserted row (the paper's ratio, issue 6's target), rows/s as (inserted+sampled)\n");
    std::printf("%-7s %-11s %14s %14s %30s %26s %8s %8s\n", "shards", "service", "insert rows/s",
                "sample rows/s", "insert+sample, free mix", "insert+sample, 256:1", "p50 us",
                "p99 us");
  }
  for (int shards : shard_counts) {
    const bool run_ours = service != "raw", run_raw = service != "ours";
    std::vector<Figures> ours_runs, raw_runs;
    Measure(service, durable, shards, absl::Seconds(seconds), dir, phase, repeats, &ours_runs,
            &raw_runs);
    const Figures ours = run_ours ? Median(ours_runs) : Figures{};
    const Figures raw = run_raw ? Median(raw_runs) : Figures{};
    auto line = [&](const char* name, const Figures& f) {
      auto mix = [](double inserted, double sampled) {
        return absl::StrFormat("%.0f (%.0f+%.0f)", inserted + sampled, inserted, sampled);
      };
      std::printf("%-7d %-11s %14.0f %14.0f %30s %26s %8.0f %8.0f\n", shards, name, f.insert,
                  f.sample, mix(f.both_insert, f.both_sample).c_str(),
                  mix(f.paced_insert, f.paced_sample).c_str(), f.p50_us, f.p99_us);
    };
    const bool alone_ran = phase == "all" || phase == "insert" || phase == "sample";
    const bool both_ran = phase == "all" || phase == "both";
    if (run_ours) {
      line("sac-replay", ours);
      if (phase == "all") {
        std::printf("        (mean time inside the shard per sample call: %.0f us)\n",
                    ours.server_sample_us);
      }
    }
    if (run_raw) line("raw gRPC", raw);
    // Ratios: the median over repeats of ours / raw within one repeat (the two
    // ran back to back), less sensitive to the machine's drift than a ratio of
    // medians; the range shows how much they moved.
    auto paired = [&](auto figure) {
      std::vector<double> r;
      for (size_t i = 0; i < ours_runs.size() && i < raw_runs.size(); ++i) {
        // A phase not run (--phase) has no figure: no ratio.
        if (figure(raw_runs[i]) > 0) r.push_back(figure(ours_runs[i]) / figure(raw_runs[i]));
      }
      std::sort(r.begin(), r.end());
      return r;
    };
    auto show = [](const std::vector<double>& r) {
      if (r.empty()) return std::string("-");
      return r.size() == 1
                 ? absl::StrFormat("%.2fx", r[0])
                 : absl::StrFormat("%.2fx (%.2f-%.2f)", r[r.size() / 2], r.front(), r.back());
    };
    auto insert_of = [](const Figures& f) { return f.insert; };
    auto sample_of = [](const Figures& f) { return f.sample; };
    auto both_of = [](const Figures& f) { return f.both_insert + f.both_sample; };
    auto paced_of = [](const Figures& f) { return f.paced_insert + f.paced_sample; };
    auto insert_cpu_of = [](const Figures& f) { return f.insert_cpu; };
    auto sample_cpu_of = [](const Figures& f) { return f.sample_cpu; };
    if (run_ours && run_raw) {
      std::printf("%-7d %-11s %18s %18s %26s %26s\n", shards, "ratio",
                  show(paired(insert_of)).c_str(), show(paired(sample_of)).c_str(),
                  show(paired(both_of)).c_str(), show(paired(paced_of)).c_str());
    }
    if (run_ours && alone_ran) {
      std::printf("%-7d %-11s %14.0f %14.0f   (rows per CPU-second: sac-replay)\n", shards,
                  "per cpu-s", ours.insert_cpu, ours.sample_cpu);
    }
    if (run_raw && alone_ran) {
      std::printf("%-7d %-11s %14.0f %14.0f   (rows per CPU-second: raw gRPC)\n", shards,
                  "per cpu-s", raw.insert_cpu, raw.sample_cpu);
    }
    if (run_ours && run_raw && alone_ran) {
      std::printf("%-7d %-11s %18s %18s   (per CPU-second)\n", shards, "ratio",
                  show(paired(insert_cpu_of)).c_str(), show(paired(sample_cpu_of)).c_str());
    }
    if (both_ran) {
      std::printf("%-7d %-11s", shards, "cores busy");
      if (run_ours) std::printf(" sac-replay %.2f", ours.both_cores);
      if (run_raw) std::printf("  raw gRPC %.2f", raw.both_cores);
      std::printf("   (CPU-seconds per second while inserting and sampling at once)\n");
      std::printf("%-7d %-11s", shards, "switches");
      if (run_ours) std::printf(" sac-replay %.2f", ours.both_switches);
      if (run_raw) std::printf("  raw gRPC %.2f", raw.both_switches);
      std::printf("   (context switches per 256 rows inserted or sampled, free mix)\n");
    }
    std::fflush(stdout);
  }
  std::string cleanup = "rm -rf " + dir;
  return std::system(cleanup.c_str()) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sac::replay

int main(int argc, char** argv) { return sac::replay::Main(argc, argv); }
