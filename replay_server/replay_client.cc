#include "replay_server/replay_client.h"

#include <deque>
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
    pending_.push_back(Pending{sequence, rows, bytes, std::move(batch)});
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
  struct Pending {
    uint64_t sequence;
    int64_t rows;
    int64_t bytes;
    v1::TransitionBatch batch;
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
        v1::InsertRequest request;
        request.set_sequence(next->sequence);
        *request.mutable_batch() = next->batch;  // the original stays until acked
        if (!stream->Write(request)) break;
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
      while (!pending_.empty() && pending_.front().sequence <= ack.sequence()) {
        const Pending& p = pending_.front();
        if (p.sequence == ack.sequence() && observer_) {
          observer_(p.sequence, ack.first_key(), p.rows);
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
  ReplaySamplerImpl(std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs, std::string token,
                    uint64_t seed)
      : stubs_(std::move(stubs)), token_(std::move(token)), sizes_(stubs_.size(), 0) {
    if (seed != 0) gen_ = absl::BitGen(std::seed_seq{static_cast<uint32_t>(seed)});
  }

  int num_shards() const override { return static_cast<int>(stubs_.size()); }

  absl::StatusOr<std::vector<v1::ReplayStatus>> Status(absl::Duration timeout) override {
    const size_t n = stubs_.size();
    std::vector<v1::ReplayStatus> out(n);
    std::vector<grpc::Status> status(n);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts(n);
    absl::BlockingCounter counter(static_cast<int>(n));
    v1::ReplayStatusRequest request;
    for (size_t i = 0; i < n; ++i) {
      contexts[i] = std::make_unique<grpc::ClientContext>();
      PrepareClientContext(contexts[i].get(), timeout, token_);
      stubs_[i]->async()->GetStatus(contexts[i].get(), &request, &out[i],
                                    [&, i](grpc::Status s) {
                                      status[i] = std::move(s);
                                      counter.DecrementCount();
                                    });
    }
    counter.Wait();
    for (size_t i = 0; i < n; ++i) {
      if (!status[i].ok()) return Annotate(FromGrpcStatus(status[i]), absl::StrCat("shard ", i));
    }
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < n; ++i) sizes_[i] = out[i].size();
    return out;
  }

  absl::StatusOr<MergedSample> Sample(int batch_size, absl::Duration timeout) override {
    if (batch_size < 1) return absl::InvalidArgumentError("batch_size: must be at least 1");
    std::vector<uint64_t> sizes;
    {
      absl::MutexLock lock(&mu_);
      sizes = sizes_;
    }
    bool any = false;
    for (uint64_t s : sizes) any |= s > 0;
    if (!any) {
      ASSIGN_OR_RETURN(std::vector<v1::ReplayStatus> status, Status(timeout));
      for (size_t i = 0; i < status.size(); ++i) sizes[i] = status[i].size();
    }
    uint64_t total = 0;
    for (uint64_t s : sizes) total += s;
    if (total == 0) {
      // Nothing anywhere yet: ask every shard for its share anyway, so the
      // rate limiters (min size) make the caller wait instead of failing.
      for (uint64_t& s : sizes) s = 1;
      total = sizes.size();
    }
    std::vector<int> counts;
    {
      absl::MutexLock lock(&mu_);
      counts = SplitBatch(batch_size, sizes, gen_);
    }
    const size_t n = stubs_.size();
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
    for (size_t i = 0; i < n; ++i) {
      if (counts[i] > 0 && !status[i].ok()) {
        return Annotate(FromGrpcStatus(status[i]), absl::StrCat("shard ", i));
      }
    }
    // Fresh sizes for the next split.
    {
      absl::MutexLock lock(&mu_);
      for (size_t i = 0; i < n; ++i) {
        if (counts[i] > 0) sizes_[i] = parts[i].table_size();
      }
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

  std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs_;
  const std::string token_;
  absl::Mutex mu_;
  std::vector<uint64_t> sizes_ ABSL_GUARDED_BY(mu_);
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
  return std::unique_ptr<ReplaySampler>(
      new ReplaySamplerImpl(std::move(stubs), std::move(token), options.seed));
}

}  // namespace sac::replay
