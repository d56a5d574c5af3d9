#include "replay_server/replay_service.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/raw_rpc.h"
#include "common/security.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "grpc/slice.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"
#include "replay_server/sample_wire.h"

namespace sac::replay {
namespace {

absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  const auto d = context->deadline();
  if (d >= std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 10)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(d);
}

// Acks an Insert stream may have queued (the client not reading them) before
// the stream stops reading batches: a client that never reads its acks is held
// back by flow control instead of growing the queue (about 50 bytes an ack).
constexpr size_t kMaxQueuedAcks = 1024;

// The Insert stream. States (under mu_): `busy_` counts batches between their
// read and their hand-off to the shard (including limiter waits), `unacked_`
// batches handed off whose log commit has not called back, `acks_` acks not yet
// written. The stream finishes once nothing is outstanding and either the client
// half-closed or an error happened (a message that does not parse is one:
// INVALID_ARGUMENT, never OK with a batch unstored). Deleted in OnDone.
class InsertReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  InsertReactor(ReplayService* service, grpc::CallbackServerContext* context)
      : shard_(service->shard()), deadline_(DeadlineOf(context)) {
    grpc::Status auth = CheckBearerToken(*context, service->token());
    absl::MutexLock lock(&mu_);
    if (!auth.ok()) {
      finished_ = true;
      Finish(auth);
      return;
    }
    reading_ = true;
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    const absl::Time received = absl::Now();
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      // A read that completes after the stream failed is dropped: nothing new
      // may start once the stream is finishing.
      if (!error_.ok() || finished_) {
        MaybeFinishLocked();
        return;
      }
    }
    absl::Status invalid = ParseRequest(request_bytes_, &request_);
    request_bytes_.Clear();
    if (invalid.ok()) invalid = Check();
    if (!invalid.ok()) {
      shard_->metrics()->rejected_insert->Increment();
      Fail(invalid);
      return;
    }
    uint64_t generation = 0;
    {
      absl::MutexLock lock(&mu_);
      ++busy_;
      generation = ++generation_;
    }
    const int64_t rows = batch_->rows.rows;
    const RateLimiter::Ticket ticket = shard_->limiter()->AwaitInsert(
        rows, deadline_,
        [this, received, generation](const absl::Status& s, absl::Duration waited) {
          OnAdmitted(s, waited, received, generation);
        });
    if (ticket == 0) return;  // admitted (or refused) already
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      // Keep the ticket for OnCancel unless this batch's callback ran already.
      if (admitted_generation_ < generation) {
        ticket_ = ticket;
        cancelled = broken_;  // OnCancel ran before the ticket was known
      }
    }
    if (cancelled) CancelWait();
  }

  void OnWriteDone(bool ok) override {
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      acks_.pop_front();
      if (!ok) {
        broken_ = true;
        if (error_.ok()) error_ = absl::CancelledError("insert stream: ack not delivered");
      }
      // The client takes its acks again: read on.
      if (read_paused_ && error_.ok() && !finished_ && !AcksFullLocked()) {
        read_paused_ = false;
        reading_ = true;
        read = true;
      }
      MaybeWriteLocked();
      MaybeFinishLocked();
    }
    if (read) StartRead(&request_bytes_);
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      broken_ = true;
    }
    CancelWait();
    Fail(absl::CancelledError("insert stream cancelled"));
  }

  void OnDone() override { delete this; }

 private:
  // Validates request_ (sequence and batch); sets batch_.
  absl::Status Check() {
    if (has_sequence_ && request_.sequence() <= last_sequence_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence: ", request_.sequence(), " is not above the previous ", last_sequence_));
    }
    auto batch = ValidateBatch(request_.batch(), shard_->table()->spec(), shard_->max_batch_rows());
    if (!batch.ok()) return batch.status();
    RETURN_IF_ERROR(shard_->limiter()->CheckInsert(batch->rows.rows, "batch.obs"));
    batch_.emplace(std::move(*batch));
    has_sequence_ = true;
    last_sequence_ = request_.sequence();
    return absl::OkStatus();
  }

  // Removes the current batch's limiter wait, if any; exactly one caller wins.
  void CancelWait() {
    RateLimiter::Ticket ticket = 0;
    {
      absl::MutexLock lock(&mu_);
      ticket = ticket_;
    }
    if (ticket != 0 && shard_->limiter()->Cancel(ticket)) {
      absl::MutexLock lock(&mu_);
      if (ticket_ == ticket) ticket_ = 0;
      --busy_;
      MaybeFinishLocked();
    }
  }

  void OnAdmitted(const absl::Status& status, absl::Duration waited, absl::Time received,
                  uint64_t generation) {
    shard_->metrics()->insert_wait->Observe(absl::ToDoubleSeconds(waited));
    {
      absl::MutexLock lock(&mu_);
      admitted_generation_ = generation;
      ticket_ = 0;
    }
    if (!status.ok()) {
      {
        absl::MutexLock lock(&mu_);
        --busy_;
      }
      Fail(status);
      return;
    }
    const uint64_t sequence = request_.sequence();
    {
      absl::MutexLock lock(&mu_);
      ++unacked_;
    }
    ShardMetrics* metrics = shard_->metrics();
    shard_->Insert(batch_->rows, [this, sequence, received, metrics](
                                     const absl::Status& s, uint64_t first_key, int64_t size) {
      if (s.ok()) metrics->insert_latency->Observe(absl::ToDoubleSeconds(absl::Now() - received));
      absl::MutexLock lock(&mu_);
      --unacked_;
      if (!s.ok()) {
        if (error_.ok()) error_ = s;
      } else if (!broken_) {
        // Acked even after a later batch failed validation: it is stored.
        v1::InsertResponse& ack = acks_.emplace_back();
        ack.set_sequence(sequence);
        ack.set_first_key(first_key);
        ack.set_table_size(static_cast<uint64_t>(size));
        MaybeWriteLocked();
      }
      MaybeFinishLocked();
    });
    // The shard copied the rows: the request buffer may take the next batch,
    // unless the client leaves kMaxQueuedAcks acks unread (then OnWriteDone
    // reads on, and until then HTTP/2 flow control holds the client back).
    bool read = false;
    {
      absl::MutexLock lock(&mu_);
      batch_.reset();
      if (error_.ok() && !finished_) {
        if (AcksFullLocked()) {
          read_paused_ = true;
        } else {
          reading_ = true;
          read = true;
        }
      }
    }
    if (read) StartRead(&request_bytes_);
    absl::MutexLock lock(&mu_);
    --busy_;
    MaybeFinishLocked();
  }

  void Fail(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (error_.ok()) error_ = status;
    MaybeFinishLocked();
  }

  // Acks queued or to come (batches stored, not yet committed) at the bound.
  bool AcksFullLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return acks_.size() + static_cast<size_t>(unacked_) >= kMaxQueuedAcks;
  }

  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || acks_.empty() || finished_ || broken_) return;
    writing_ = true;
    ack_bytes_ = SerializeMessage(acks_.front());
    StartWrite(&ack_bytes_);
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || busy_ > 0 || unacked_ > 0 || writing_) return;
    // Queued acks go out first (also after an error), unless the stream broke.
    if (!broken_ && !acks_.empty()) return;
    if (error_.ok() && !reads_done_) return;
    finished_ = true;
    Finish(ToGrpcStatus(error_));
  }

  ReplayShard* const shard_;
  const absl::Time deadline_;
  // Touched only by the thread that owns the current read (one batch at a time).
  grpc::ByteBuffer request_bytes_;
  v1::InsertRequest request_;
  std::optional<ValidatedBatch> batch_;
  bool has_sequence_ = false;
  uint64_t last_sequence_ = 0;

  absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;  // acks at the bound: no read started
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // cancelled or a write failed: no more writes
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  int unacked_ ABSL_GUARDED_BY(mu_) = 0;
  RateLimiter::Ticket ticket_ ABSL_GUARDED_BY(mu_) = 0;    // the current batch's wait
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;           // batches handed to the limiter
  uint64_t admitted_generation_ ABSL_GUARDED_BY(mu_) = 0;  // the last one called back
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::InsertResponse> acks_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer ack_bytes_ ABSL_GUARDED_BY(mu_);  // acks_.front() while it is written
};

// A gRPC thread keeps its sample buffers for the next sample up to this size
// (a batch of 256 Humanoid rows is 0.74 MB); larger ones are freed, so that a
// few huge samples do not leave every thread holding their size.
constexpr size_t kKeptWriterBytes = 1u << 20;

// Draws `n` rows into this thread's column buffers and encodes the answer
// into one slice of `response` (the only copy after the gather from the table),
// held by `reservation` (when there is one) until gRPC frees it.
absl::Status SampleInto(ReplayShard* shard, int64_t n,
                        std::unique_ptr<ResponseBudget::Reservation> reservation,
                        grpc::ByteBuffer* response) {
  thread_local SampleResponseWriter writer;
  writer.Reset(shard->table()->spec(), n);
  ASSIGN_OR_RETURN(const int64_t size, shard->SampleInto(n, writer.columns()));
  const size_t bytes = writer.Measure(static_cast<uint64_t>(size));
  if (reservation != nullptr) {
    uint8_t* data = nullptr;
    *response = ResponseBudget::Allocate(std::move(reservation), bytes, &data);
    writer.Encode(data);
  } else {
    grpc_slice slice = grpc_slice_malloc(bytes);
    writer.Encode(GRPC_SLICE_START_PTR(slice));
    grpc::Slice owned(slice, grpc::Slice::STEAL_REF);
    *response = grpc::ByteBuffer(&owned, 1);
  }
  // A thread keeps its buffers for the next sample, unless they are large.
  if (bytes > kKeptWriterBytes) writer = SampleResponseWriter();
  return absl::OkStatus();
}

// Samples once admitted and records the wait and the latency.
absl::Status SampleAdmitted(ReplayShard* shard, int64_t n, absl::Duration waited, absl::Time start,
                            std::unique_ptr<ResponseBudget::Reservation> reservation,
                            grpc::ByteBuffer* response) {
  shard->metrics()->sample_wait->Observe(absl::ToDoubleSeconds(waited));
  RETURN_IF_ERROR(SampleInto(shard, n, std::move(reservation), response));
  shard->metrics()->sample_latency->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  return absl::OkStatus();
}

// A sample that must wait on the rate limiter: finishes when admitted (or at
// the deadline, cancellation or shutdown). Deleted in OnDone.
class SampleReactor final : public grpc::ServerUnaryReactor {
 public:
  SampleReactor(ReplayShard* shard, grpc::CallbackServerContext* context, int64_t n,
                absl::Time start, std::unique_ptr<ResponseBudget::Reservation> reservation,
                grpc::ByteBuffer* response)
      : shard_(shard), reservation_(std::move(reservation)) {
    const RateLimiter::Ticket ticket = shard_->limiter()->AwaitSample(
        n, DeadlineOf(context),
        [this, n, start, response](const absl::Status& s, absl::Duration waited) {
          FinishOnce(
              s.ok() ? SampleAdmitted(shard_, n, waited, start, std::move(reservation_), response)
                     : s);
        });
    ticket_.store(ticket);
    // OnCancel may have run before the ticket was known.
    if (ticket != 0 && cancelled_.load()) OnCancel();
  }

  void OnCancel() override {
    cancelled_.store(true);
    if (shard_->limiter()->Cancel(ticket_.load())) {
      FinishOnce(absl::CancelledError("sample cancelled while waiting on the rate limiter"));
    }
  }
  void OnDone() override { delete this; }

 private:
  void FinishOnce(const absl::Status& s) {
    if (finished_.exchange(true)) return;
    Finish(ToGrpcStatus(s));
  }

  ReplayShard* const shard_;
  // Reserved for the answer while it waits; moved into the answer's slice.
  std::unique_ptr<ResponseBudget::Reservation> reservation_;
  std::atomic<RateLimiter::Ticket> ticket_{0};
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> finished_{false};
};

absl::Status ValidateSample(ReplayShard* shard, int64_t n) {
  if (n < 1) return absl::InvalidArgumentError("batch_size: 0, must be at least 1");
  if (n > shard->table()->capacity()) {
    return absl::FailedPreconditionError(absl::StrCat("batch_size: ", n,
                                                      " exceeds the table's capacity of ",
                                                      shard->table()->capacity(), " rows"));
  }
  if (n > shard->max_batch_rows()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("batch_size: ", n, " rows exceed the message size limit (at most ",
                     shard->max_batch_rows(), " rows per sample)"));
  }
  return shard->limiter()->CheckSample(n, "batch_size");
}

// Validates `request` and updates the priorities of the keys still present.
absl::Status UpdatePrioritiesOf(ReplayShard* shard, const v1::UpdatePrioritiesRequest& request,
                                v1::UpdatePrioritiesResponse* response) {
  const int64_t k = request.key_size();
  const int64_t shape[] = {k};
  ASSIGN_OR_RETURN(TensorView priority, DecodeTensor(request.priority(), "priority", shape));
  for (int64_t i = 0; i < k; ++i) {
    if (priority.values()[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("priority: element ", i, " is negative (", priority.values()[i], ")"));
    }
  }
  ASSIGN_OR_RETURN(int64_t updated,
                   shard->table()->UpdatePriorities({request.key().data(), static_cast<size_t>(k)},
                                                    priority.values()));
  response->set_updated(static_cast<uint64_t>(updated));
  return absl::OkStatus();
}

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ReplayService::Insert(
    grpc::CallbackServerContext* context) {
  return new InsertReactor(this, context);
}

grpc::ServerUnaryReactor* ReplayService::Sample(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request_bytes,
                                                grpc::ByteBuffer* response) {
  const absl::Time start = absl::Now();
  // Every answer that needs no wait goes through gRPC's own default reactor,
  // whose completion runs inline; a reactor of ours would be deleted on gRPC's
  // executor thread, one thread hop per sample (its cost: docs/perf.md).
  auto finish = [context](const absl::Status& s) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  };
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) return finish(FromGrpcStatus(auth));
  v1::SampleRequest request;
  if (absl::Status parsed = ParseRequest(*request_bytes, &request); !parsed.ok()) {
    shard_->metrics()->rejected_sample->Increment();
    return finish(parsed);
  }
  const int64_t n = request.batch_size();
  absl::Status invalid = ValidateSample(shard_, n);
  if (!invalid.ok()) {
    shard_->metrics()->rejected_sample->Increment();
    return finish(invalid);
  }
  // The answer's memory is reserved before it is drawn (and before the rate
  // limiter counts it): a client with too many answers unread is refused.
  std::unique_ptr<ResponseBudget::Reservation> reservation;
  if (budget_ != nullptr) {
    auto reserved = budget_->Reserve(
        context->peer(),
        static_cast<int64_t>(SampleResponseWriter::MaxBytes(shard_->table()->spec(), n)));
    if (!reserved.ok()) {
      shard_->metrics()->rejected_sample->Increment();
      return finish(reserved.status());
    }
    reservation = std::move(*reserved);
  }
  absl::StatusOr<bool> admitted = shard_->limiter()->TrySample(n);
  if (!admitted.ok()) return finish(admitted.status());
  if (*admitted) {
    return finish(
        SampleAdmitted(shard_, n, absl::ZeroDuration(), start, std::move(reservation), response));
  }
  return new SampleReactor(shard_, context, n, start, std::move(reservation), response);
}

grpc::ServerUnaryReactor* ReplayService::UpdatePriorities(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request_bytes,
                                                          grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status auth = CheckBearerToken(*context, token_);
  if (!auth.ok()) {
    reactor->Finish(auth);
    return reactor;
  }
  v1::UpdatePrioritiesRequest request;
  v1::UpdatePrioritiesResponse response;
  absl::Status s = ParseRequest(*request_bytes, &request);
  if (s.ok()) s = UpdatePrioritiesOf(shard_, request, &response);
  if (s.ok()) {
    *response_bytes = SerializeMessage(response);
  } else {
    shard_->metrics()->rejected_update->Increment();
  }
  reactor->Finish(ToGrpcStatus(s));
  return reactor;
}

grpc::ServerUnaryReactor* ReplayService::GetStatus(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request_bytes,
                                                   grpc::ByteBuffer* response_bytes) {
  return ServeUnary<v1::ReplayStatusRequest, v1::ReplayStatus>(
      context, token_, request_bytes, response_bytes,
      [this](const v1::ReplayStatusRequest&, v1::ReplayStatus* response) {
        *response = shard_->Status();
        return grpc::Status::OK;
      });
}

}  // namespace sac::replay
