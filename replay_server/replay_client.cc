#include "replay_server/replay_client.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/security.h"
#include "common/server.h"
#include "common/status.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {
namespace {

absl::StatusOr<std::string> TokenOf(const v1::ClientConfig& client) {
  if (client.auth_token_file().empty()) return std::string();
  return ReadTokenFile(client.auth_token_file());
}

bool IsRefusal(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::FAILED_PRECONDITION;
}

// ----------------------------------------------------------------- writer

class ReplayWriterImpl final : public ReplayWriter {
 public:
  ReplayWriterImpl(const WriterOptions& options, std::shared_ptr<grpc::Channel> channel,
                   std::string token)
      : options_(options),
        stub_(v1::ReplayService::NewStub(channel)),
        token_(std::move(token)) {
    thread_ = std::thread([this] { Run(); });
  }

  ~ReplayWriterImpl() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      if (context_ != nullptr) context_->TryCancel();
    }
    thread_.join();
  }

  absl::StatusOr<uint64_t> Write(v1::TransitionBatch batch, absl::Duration timeout) override {
    const int64_t bytes = static_cast<int64_t>(batch.ByteSizeLong());
    const int64_t rows = batch.obs().shape_size() > 0 ? batch.obs().shape(0) : 0;
    absl::MutexLock lock(&mu_);
    auto room = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stop_ || closing_ ||
             (static_cast<int>(pending_.size()) < options_.max_in_flight_batches &&
              (pending_.empty() || pending_bytes_ + bytes <= options_.max_in_flight_bytes));
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&room), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "replay writer: ", pending_.size(), " batches still unacknowledged by ",
          options_.address));
    }
    if (stop_ || closing_) return absl::UnavailableError("replay writer is closed");
    const uint64_t sequence = next_sequence_++;
    Pending& p = pending_.emplace_back(Pending{rows, bytes, {}});
    p.request.set_sequence(sequence);
    p.request.mutable_batch()->Swap(&batch);
    pending_bytes_ += bytes;
    ++stats_.written_batches;
    return sequence;
  }

  absl::Status Flush(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    auto drained = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return pending_.empty() || stop_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&drained), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat("replay writer: ", pending_.size(),
                                                      " batches not acknowledged by ",
                                                      options_.address, " in time"));
    }
    absl::Status s = refusal_;
    refusal_ = absl::OkStatus();
    return s;
  }

  absl::Status Close(absl::Duration timeout) override {
    absl::Status s = Flush(timeout);
    absl::MutexLock lock(&mu_);
    closing_ = true;
    return s;
  }

  WriterStats stats() const override {
    absl::MutexLock lock(&mu_);
    WriterStats s = stats_;
    s.in_flight = pending_.size();
    return s;
  }

  void SetAckObserver(
      std::function<void(uint64_t, uint64_t, int64_t)> observer) override {
    absl::MutexLock lock(&mu_);
    observer_ = std::move(observer);
  }

 private:
  // A batch until acknowledged, kept as the very request that is sent (and
  // sent again after a reconnect): no copy of the batch per send. Its
  // sequence number is the request's.
  struct Pending {
    int64_t rows;
    int64_t bytes;
    v1::InsertRequest request;
  };

  // One stream at a time: send every pending batch (from the first unacked one),
  // read acks on a second thread, and reconnect with backoff when it breaks.
  void Run() {
    absl::Duration backoff = absl::Seconds(options_.client.initial_backoff_seconds());
    const absl::Duration max_backoff = absl::Seconds(options_.client.max_backoff_seconds());
    bool first = true;
    for (;;) {
      grpc::ClientContext context;
      if (!token_.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
        context_ = &context;
        if (!first) ++stats_.reconnects;
        first = false;
      }
      std::unique_ptr<grpc::ClientReaderWriter<v1::InsertRequest, v1::InsertResponse>> stream =
          stub_->Insert(&context);
      bool got_ack = false;
      std::thread reader([&] { ReadAcks(stream.get(), &got_ack); });
      size_t sent = 0;  // pending_ entries sent on this stream
      for (;;) {
        const Pending* next = nullptr;
        {
          absl::MutexLock lock(&mu_);
          auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
            return stop_ || stream_broken_ || closing_ || sent < SentIndexLimitLocked();
          };
          mu_.Await(absl::Condition(&ready));
          if (stop_ || stream_broken_ || (closing_ && sent >= SentIndexLimitLocked())) break;
          // Acked entries were popped from the front: `sent` counts from the
          // stream's first unacked entry, so translate.
          next = &pending_[sent - acked_on_stream_];
        }
        if (!stream->Write(next->request)) break;
        ++sent;
      }
      stream->WritesDone();
      reader.join();
      const grpc::Status status = stream->Finish();
      bool refused = false;
      {
        absl::MutexLock lock(&mu_);
        context_ = nullptr;
        stream_broken_ = false;
        acked_on_stream_ = 0;
        if (IsRefusal(status.error_code()) && !pending_.empty()) {
          // The first unacked batch is the one the shard refused: drop it.
          if (refusal_.ok()) {
            refusal_ = absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                                    status.error_message());
          }
          pending_bytes_ -= pending_.front().bytes;
          pending_.pop_front();
          ++stats_.rejected_batches;
          refused = true;
        }
        if (stop_ || (closing_ && pending_.empty())) return;
      }
      if (refused) continue;  // the shard is up: no backoff
      if (got_ack) backoff = absl::Seconds(options_.client.initial_backoff_seconds());
      SAC_LOG(WARNING) << "replay writer: stream to " << options_.address << " ended ("
                       << status.error_message() << "), reconnecting in "
                       << absl::FormatDuration(backoff);
      absl::MutexLock lock(&mu_);
      auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopped), backoff)) return;
      backoff = std::min(backoff * 2, max_backoff);
    }
  }

  // Index one past the last pending entry, counted from the stream's start.
  size_t SentIndexLimitLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return pending_.size() + acked_on_stream_;
  }

  void ReadAcks(grpc::ClientReaderWriter<v1::InsertRequest, v1::InsertResponse>* stream,
                bool* got_ack) {
    v1::InsertResponse ack;
    while (stream->Read(&ack)) {
      absl::MutexLock lock(&mu_);
      *got_ack = true;
      while (!pending_.empty() && pending_.front().request.sequence() <= ack.sequence()) {
        const Pending& p = pending_.front();
        if (p.request.sequence() == ack.sequence() && observer_) {
          observer_(ack.sequence(), ack.first_key(), p.rows);
        }
        ++stats_.acked_batches;
        stats_.acked_rows += static_cast<uint64_t>(p.rows);
        pending_bytes_ -= p.bytes;
        pending_.pop_front();
        ++acked_on_stream_;
      }
    }
    absl::MutexLock lock(&mu_);
    stream_broken_ = true;
  }

  const WriterOptions options_;
  std::unique_ptr<v1::ReplayService::Stub> stub_;
  const std::string token_;

  mutable absl::Mutex mu_;
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);  // unacked, in sequence order
  int64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  size_t acked_on_stream_ ABSL_GUARDED_BY(mu_) = 0;
  bool stream_broken_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Status refusal_ ABSL_GUARDED_BY(mu_);
  WriterStats stats_ ABSL_GUARDED_BY(mu_);
  std::function<void(uint64_t, uint64_t, int64_t)> observer_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// ---------------------------------------------------------------- sampler

class ReplaySamplerImpl final : public ReplaySampler {
 public:
  ReplaySamplerImpl(std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs,
                    std::vector<std::string> addresses, std::string token,
                    const v1::ClientConfig& client, uint64_t seed)
      : stubs_(std::move(stubs)),
        addresses_(std::move(addresses)),
        token_(std::move(token)),
        initial_backoff_(absl::Seconds(client.initial_backoff_seconds())),
        max_backoff_(absl::Seconds(client.max_backoff_seconds())),
        health_(std::make_shared<Health>()) {
    {
      absl::MutexLock lock(&health_->mu);
      health_->shards.resize(stubs_.size());
      for (ShardHealth& s : health_->shards) s.backoff = initial_backoff_;
    }
    absl::MutexLock lock(&mu_);
    if (seed != 0) gen_ = absl::BitGen(std::seed_seq{static_cast<uint32_t>(seed)});
  }

  ~ReplaySamplerImpl() override {
    // Probes still in flight use the stubs' channels: cancel them and wait for
    // their callbacks (which hold their own references to `health_` and to
    // their probe). Cancelled outside the lock, which a callback takes.
    std::vector<std::shared_ptr<Probe>> in_flight;
    {
      absl::MutexLock lock(&health_->mu);
      for (ShardHealth& s : health_->shards) {
        if (s.probing && s.probe) in_flight.push_back(s.probe);
      }
    }
    for (auto& probe : in_flight) probe->context.TryCancel();
    absl::MutexLock lock(&health_->mu);
    health_->mu.Await(absl::Condition(
        +[](int* count) { return *count == 0; }, &health_->probes_in_flight));
  }

  int num_shards() const override { return static_cast<int>(stubs_.size()); }

  std::vector<absl::StatusOr<v1::ReplayStatus>> StatusEach(absl::Duration timeout) override {
    const size_t n = stubs_.size();
    std::vector<absl::StatusOr<v1::ReplayStatus>> result(n, absl::UnknownError("not asked"));
    std::vector<bool> ask(n, false);
    {
      absl::MutexLock lock(&health_->mu);
      for (size_t i = 0; i < n; ++i) {
        const ShardHealth& s = health_->shards[i];
        ask[i] = !s.down;
        if (s.down) result[i] = DownErrorLocked(i);
      }
    }
    StartDueProbes(timeout);
    std::vector<v1::ReplayStatus> out(n);
    std::vector<grpc::Status> status(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    int calls = 0;
    for (size_t i = 0; i < n; ++i) calls += ask[i];
    absl::BlockingCounter counter(calls);
    v1::ReplayStatusRequest request;
    for (size_t i = 0; i < n; ++i) {
      if (!ask[i]) continue;
      contexts[i] = std::make_unique<grpc::ClientContext>();
      PrepareClientContext(contexts[i].get(), timeout, token_);
      stubs_[i]->async()->GetStatus(contexts[i].get(), &request, &out[i],
                                    [&, i](grpc::Status s) {
                                      status[i] = std::move(s);
                                      counter.DecrementCount();
                                    });
    }
    counter.Wait();
    absl::MutexLock lock(&health_->mu);
    for (size_t i = 0; i < n; ++i) {
      if (!ask[i]) continue;
      if (status[i].ok()) {
        health_->shards[i].size = out[i].size();
        result[i] = std::move(out[i]);
        continue;
      }
      // GetStatus never waits inside the shard: no answer in time is no answer.
      if (status[i].error_code() == grpc::StatusCode::UNAVAILABLE ||
          status[i].error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        MarkDownLocked(health_.get(), i, addresses_[i], status[i].error_message(), max_backoff_);
      }
      result[i] = Annotate(FromGrpcStatus(status[i]), absl::StrCat("shard ", i));
    }
    return result;
  }

  absl::StatusOr<std::vector<v1::ReplayStatus>> Status(absl::Duration timeout) override {
    std::vector<absl::StatusOr<v1::ReplayStatus>> each = StatusEach(timeout);
    std::vector<v1::ReplayStatus> out;
    for (auto& s : each) {
      if (!s.ok()) return s.status();
      out.push_back(std::move(*s));
    }
    return out;
  }

  absl::StatusOr<MergedSample> Sample(int batch_size, absl::Duration timeout) override {
    if (batch_size < 1) return absl::InvalidArgumentError("batch_size: must be at least 1");
    const size_t n = stubs_.size();
    StartDueProbes(timeout);
    std::vector<uint64_t> sizes(n, 0);
    std::vector<bool> up(n, false);
    {
      absl::MutexLock lock(&health_->mu);
      for (size_t i = 0; i < n; ++i) {
        up[i] = !health_->shards[i].down;
        sizes[i] = up[i] ? health_->shards[i].size : 0;
      }
    }
    bool any_up = false, any_rows = false;
    for (size_t i = 0; i < n; ++i) {
      any_up |= up[i];
      any_rows |= sizes[i] > 0;
    }
    if (!any_up) return NoShardError();
    if (!any_rows) {
      // First call, or every reachable shard was empty: ask for their sizes.
      std::vector<absl::StatusOr<v1::ReplayStatus>> each = StatusEach(timeout);
      absl::Status first_error;
      any_up = false;
      for (size_t i = 0; i < n; ++i) {
        up[i] = each[i].ok();
        sizes[i] = up[i] ? each[i]->size() : 0;
        any_up |= up[i];
        if (!up[i] && first_error.ok()) first_error = each[i].status();
      }
      if (!any_up) return first_error;
    }
    uint64_t total = 0;
    for (uint64_t s : sizes) total += s;
    if (total == 0) {
      // Nothing anywhere yet: ask every reachable shard for its share anyway,
      // so the rate limiters (min size) make the caller wait instead of failing.
      for (size_t i = 0; i < n; ++i) {
        if (up[i]) {
          sizes[i] = 1;
          ++total;
        }
      }
    }
    std::vector<int> counts;
    {
      absl::MutexLock lock(&mu_);
      counts = SplitBatch(batch_size, sizes, gen_);
    }
    std::vector<v1::SampleResponse> parts(n);
    std::vector<grpc::Status> status(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    std::vector<v1::SampleRequest> requests(n);
    int calls = 0;
    for (size_t i = 0; i < n; ++i) calls += counts[i] > 0;
    absl::BlockingCounter counter(calls);
    for (size_t i = 0; i < n; ++i) {
      if (counts[i] == 0) continue;
      contexts[i] = std::make_unique<grpc::ClientContext>();
      PrepareClientContext(contexts[i].get(), timeout, token_);
      requests[i].set_batch_size(static_cast<uint32_t>(counts[i]));
      stubs_[i]->async()->Sample(contexts[i].get(), &requests[i], &parts[i],
                                 [&, i](grpc::Status s) {
                                   status[i] = std::move(s);
                                   counter.DecrementCount();
                                 });
    }
    counter.Wait();
    absl::Status first_error;
    std::vector<size_t> to_probe;
    {
      absl::MutexLock lock(&health_->mu);
      for (size_t i = 0; i < n; ++i) {
        if (counts[i] == 0) continue;
        if (status[i].ok()) {
          health_->shards[i].size = parts[i].table_size();  // fresh sizes for the next split
          continue;
        }
        if (status[i].error_code() == grpc::StatusCode::UNAVAILABLE) {
          // Gone (connection refused or reset, shutting down): leave it out
          // until a probe finds it again, so the others keep serving.
          MarkDownLocked(health_.get(), i, addresses_[i], status[i].error_message(),
                         max_backoff_);
        } else if (status[i].error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
          // Either its rate limiter held the sample (it answers GetStatus at
          // once) or it does not answer at all (hung, partitioned): a probe
          // tells which, without holding up the next sample.
          to_probe.push_back(i);
        }
        if (first_error.ok()) {
          first_error = Annotate(FromGrpcStatus(status[i]), absl::StrCat("shard ", i));
        }
      }
    }
    if (!first_error.ok()) {
      for (size_t i : to_probe) StartProbe(i, timeout);
      return first_error;
    }
    return Merge(parts, counts, sizes, total);
  }

  absl::StatusOr<uint64_t> UpdatePriorities(uint32_t shard, const std::vector<uint64_t>& keys,
                                            const std::vector<float>& priorities,
                                            absl::Duration timeout) override {
    if (shard >= stubs_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("shard: ", shard, " out of range"));
    }
    v1::UpdatePrioritiesRequest request;
    request.mutable_key()->Assign(keys.begin(), keys.end());
    EncodeVectorBytes(priorities, request.mutable_priority());
    v1::UpdatePrioritiesResponse response;
    grpc::ClientContext context;
    PrepareClientContext(&context, timeout, token_);
    grpc::Status s = stubs_[shard]->UpdatePriorities(&context, request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    return response.updated();
  }

 private:
  static void EncodeVectorBytes(const std::vector<float>& v, v1::Tensor* out) {
    out->add_shape(static_cast<int64_t>(v.size()));
    out->set_data(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  }

  static absl::StatusOr<MergedSample> Merge(std::vector<v1::SampleResponse>& parts,
                                            const std::vector<int>& counts,
                                            const std::vector<uint64_t>& sizes, uint64_t total) {
    MergedSample out;
    int nonempty = 0, only = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (counts[i] > 0) {
        ++nonempty;
        only = static_cast<int>(i);
      }
    }
    if (nonempty == 1) {
      // One part: take it as it is (no copy), rescaling its probabilities.
      out.response = std::move(parts[only]);
      const double share = static_cast<double>(sizes[only]) / static_cast<double>(total);
      std::string* p = out.response.mutable_probability()->mutable_data();
      for (size_t j = 0; j + 4 <= p->size(); j += 4) {
        float f;
        std::memcpy(&f, p->data() + j, 4);
        f = static_cast<float>(f * share);
        std::memcpy(p->data() + j, &f, 4);
      }
      out.response.set_table_size(total);
      out.shard.assign(static_cast<size_t>(counts[only]), static_cast<uint32_t>(only));
      return out;
    }
    v1::TransitionBatch* batch = out.response.mutable_batch();
    int64_t rows = 0, od = 0, ad = 0;
    std::string prob;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (counts[i] == 0) continue;
      const v1::TransitionBatch& b = parts[i].batch();
      if (b.obs().shape_size() != 2 || b.action().shape_size() != 2 ||
          b.obs().shape(0) != counts[i]) {
        return absl::InternalError(absl::StrCat("shard ", i, ": malformed sample answer"));
      }
      od = b.obs().shape(1);
      ad = b.action().shape(1);
      rows += counts[i];
      batch->mutable_obs()->mutable_data()->append(b.obs().data());
      batch->mutable_action()->mutable_data()->append(b.action().data());
      batch->mutable_reward()->mutable_data()->append(b.reward().data());
      batch->mutable_next_obs()->mutable_data()->append(b.next_obs().data());
      batch->mutable_terminated()->append(b.terminated());
      batch->mutable_truncated()->append(b.truncated());
      batch->mutable_policy_version()->MergeFrom(b.policy_version());
      batch->mutable_actor_id()->MergeFrom(b.actor_id());
      out.response.mutable_key()->MergeFrom(parts[i].key());
      // A row's probability in the union: P(shard i) x P(row | shard i).
      const double share = static_cast<double>(sizes[i]) / static_cast<double>(total);
      const std::string& p = parts[i].probability().data();
      for (size_t j = 0; j + 4 <= p.size(); j += 4) {
        float f;
        std::memcpy(&f, p.data() + j, 4);
        f = static_cast<float>(f * share);
        prob.append(reinterpret_cast<const char*>(&f), 4);
      }
      out.shard.insert(out.shard.end(), static_cast<size_t>(counts[i]), static_cast<uint32_t>(i));
    }
    batch->mutable_obs()->add_shape(rows);
    batch->mutable_obs()->add_shape(od);
    batch->mutable_action()->add_shape(rows);
    batch->mutable_action()->add_shape(ad);
    batch->mutable_reward()->add_shape(rows);
    batch->mutable_next_obs()->add_shape(rows);
    batch->mutable_next_obs()->add_shape(od);
    out.response.mutable_probability()->add_shape(rows);
    out.response.mutable_probability()->set_data(std::move(prob));
    out.response.set_table_size(total);
    return out;
  }

  // One GetStatus to a shard that is left out (or may be hung), in flight.
  struct Probe {
    grpc::ClientContext context;
    v1::ReplayStatusRequest request;
    v1::ReplayStatus response;
  };
  struct ShardHealth {
    uint64_t size = 0;            // rows at its last answer
    bool down = false;            // left out of sampling until a probe answers
    absl::Time retry_at;          // next probe while down
    absl::Duration backoff;       // before the probe after that
    std::string error;            // why it is down
    bool probing = false;
    std::shared_ptr<Probe> probe;
  };
  // Shared with the probes' callbacks, which may outlive a Sample call.
  struct Health {
    absl::Mutex mu;
    std::vector<ShardHealth> shards ABSL_GUARDED_BY(mu);
    int probes_in_flight ABSL_GUARDED_BY(mu) = 0;
  };

  static void MarkDownLocked(Health* health, size_t i, const std::string& address,
                             const std::string& error, absl::Duration max_backoff)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(health->mu) {
    ShardHealth& s = health->shards[i];
    if (!s.down) {
      SAC_LOG(WARNING) << "replay shard " << i << " (" << address << ") does not answer ("
                       << error << "); sampling from the other shards, probing it with backoff";
    }
    s.down = true;
    s.error = error;
    s.retry_at = absl::Now() + s.backoff;
    s.backoff = std::min(s.backoff * 2, max_backoff);
  }

  absl::Status DownErrorLocked(size_t i) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_->mu) {
    return absl::UnavailableError(absl::StrCat("shard ", i, " (", addresses_[i],
                                               "): not answering (",
                                               health_->shards[i].error,
                                               "); left out until it answers again"));
  }

  absl::Status NoShardError() const {
    absl::MutexLock lock(&health_->mu);
    std::string why;
    for (size_t i = 0; i < stubs_.size(); ++i) {
      absl::StrAppend(&why, i == 0 ? "" : "; ", DownErrorLocked(i).message());
    }
    return absl::UnavailableError(absl::StrCat("no replay shard answers: ", why));
  }

  // Probes the down shards whose backoff has passed.
  void StartDueProbes(absl::Duration timeout) {
    std::vector<size_t> due;
    {
      absl::MutexLock lock(&health_->mu);
      const absl::Time now = absl::Now();
      for (size_t i = 0; i < health_->shards.size(); ++i) {
        const ShardHealth& s = health_->shards[i];
        if (s.down && !s.probing && now >= s.retry_at) due.push_back(i);
      }
    }
    for (size_t i : due) StartProbe(i, timeout);
  }

  // An asynchronous GetStatus of shard i (none if one is in flight): an answer
  // brings it (back) into sampling with its size, no answer (unavailable, or
  // nothing within `timeout`) leaves it out until the next probe.
  void StartProbe(size_t i, absl::Duration timeout) {
    auto probe = std::make_shared<Probe>();
    {
      absl::MutexLock lock(&health_->mu);
      ShardHealth& s = health_->shards[i];
      if (s.probing) return;
      s.probing = true;
      s.probe = probe;
      ++health_->probes_in_flight;
    }
    PrepareClientContext(&probe->context, std::min(timeout, max_backoff_), token_);
    stubs_[i]->async()->GetStatus(
        &probe->context, &probe->request, &probe->response,
        [health = health_, probe, i, address = addresses_[i], initial = initial_backoff_,
         max_backoff = max_backoff_](grpc::Status status) {
          absl::MutexLock lock(&health->mu);
          ShardHealth& s = health->shards[i];
          s.probing = false;
          if (status.ok()) {
            if (s.down) {
              SAC_LOG(INFO) << "replay shard " << i << " (" << address
                            << ") answers again; sampling from it";
            }
            s.down = false;
            s.size = probe->response.size();
            s.backoff = initial;
            s.error.clear();
          } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                     status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
            MarkDownLocked(health.get(), i, address, status.error_message(), max_backoff);
          }
          --health->probes_in_flight;
        });
  }

  std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs_;
  const std::vector<std::string> addresses_;
  const std::string token_;
  const absl::Duration initial_backoff_;
  const absl::Duration max_backoff_;
  const std::shared_ptr<Health> health_;
  absl::Mutex mu_;
  absl::BitGen gen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::vector<int> SplitBatch(int batch_size, const std::vector<uint64_t>& sizes,
                            absl::BitGenRef gen) {
  std::vector<int> counts(sizes.size(), 0);
  uint64_t total = 0;
  for (uint64_t s : sizes) total += s;
  if (total == 0) return counts;
  for (int b = 0; b < batch_size; ++b) {
    uint64_t u = absl::Uniform<uint64_t>(gen, 0, total);
    size_t i = 0;
    while (u >= sizes[i]) u -= sizes[i++];
    ++counts[i];
  }
  return counts;
}

absl::StatusOr<std::unique_ptr<ReplayWriter>> ReplayWriter::Create(const WriterOptions& options) {
  ASSIGN_OR_RETURN(std::string token, TokenOf(options.client));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   MakeChannel(options.address, options.client, options.max_message_bytes));
  return std::unique_ptr<ReplayWriter>(new ReplayWriterImpl(options, channel, std::move(token)));
}

absl::StatusOr<std::unique_ptr<ReplaySampler>> ReplaySampler::Create(const SamplerOptions& options) {
  if (options.addresses.empty()) return absl::InvalidArgumentError("addresses: no shard given");
  ASSIGN_OR_RETURN(std::string token, TokenOf(options.client));
  std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs;
  for (const std::string& address : options.addresses) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                     MakeChannel(address, options.client, options.max_message_bytes));
    stubs.push_back(v1::ReplayService::NewStub(channel));
  }
  return std::unique_ptr<ReplaySampler>(new ReplaySamplerImpl(
      std::move(stubs), options.addresses, std::move(token), options.client, options.seed));
}

}  // namespace sac::replay
