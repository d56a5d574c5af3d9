#include "replay_client/replay_writer.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/server.h"
#include "common/status.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {
namespace {

bool IsRefusal(grpc::StatusCode code) {
  return code == grpc::StatusCode::INVALID_ARGUMENT ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         code == grpc::StatusCode::FAILED_PRECONDITION;
}

class ReplayWriterImpl final : public ReplayWriter {
 public:
  ReplayWriterImpl(const WriterOptions& options, const std::shared_ptr<grpc::Channel>& channel,
                   std::string token)
      : options_(options), stub_(v1::ReplayService::NewStub(channel)), token_(std::move(token)) {
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
      return absl::DeadlineExceededError(absl::StrCat("replay writer: ", pending_.size(),
                                                      " batches still unacknowledged by ",
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

  void SetAckObserver(std::function<void(uint64_t, uint64_t, int64_t)> observer) override {
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

}  // namespace

absl::StatusOr<std::unique_ptr<ReplayWriter>> ReplayWriter::Create(const WriterOptions& options) {
  ASSIGN_OR_RETURN(std::string token, ReadClientToken(options.client));
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                   MakeChannel(options.address, options.client, options.max_message_bytes));
  return std::unique_ptr<ReplayWriter>(new ReplayWriterImpl(options, channel, std::move(token)));
}

}  // namespace sac::replay
