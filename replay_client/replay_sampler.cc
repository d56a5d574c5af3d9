#include "replay_client/replay_sampler.h"

#include <grpcpp/grpcpp.h>

#include <cstring>
#include <memory>
#include <string>

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "common/server.h"
#include "common/status.h"
#include "common/tensor_codec.h"
#include "replay_client/shard_health.h"
#include "sac/v1/replay.grpc.pb.h"

namespace sac::replay {
namespace {

// Marks Sample's refusal of a malformed answer (IsMalformedSampleAnswer).
constexpr char kMalformedAnswerPayload[] = "sac.replay/malformed_sample_answer";

std::vector<v1::ReplayService::Stub*> Pointers(
    const std::vector<std::unique_ptr<v1::ReplayService::Stub>>& stubs) {
  std::vector<v1::ReplayService::Stub*> out;
  out.reserve(stubs.size());
  for (const auto& s : stubs) out.push_back(s.get());
  return out;
}

// Multiplies each float of `probability` (packed bytes) by `share`, appending
// the results to `out` (in place when `out` is null).
void ScaleProbabilities(std::string* probability, double share, std::string* out) {
  for (size_t j = 0; j + 4 <= probability->size(); j += 4) {
    float f;
    std::memcpy(&f, probability->data() + j, 4);
    f = static_cast<float>(f * share);
    if (out == nullptr) {
      std::memcpy(probability->data() + j, &f, 4);
    } else {
      out->append(reinterpret_cast<const char*>(&f), 4);
    }
  }
}

class ReplaySamplerImpl final : public ReplaySampler {
 public:
  ReplaySamplerImpl(std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs,
                    const SamplerOptions& options, std::string token)
      : stubs_(std::move(stubs)),
        addresses_(options.addresses),
        token_(std::move(token)),
        obs_dim_(options.obs_dim),
        act_dim_(options.act_dim),
        health_(Pointers(stubs_), options.addresses, token_,
                absl::Seconds(options.client.initial_backoff_seconds()),
                absl::Seconds(options.client.max_backoff_seconds())) {
    absl::MutexLock lock(&mu_);
    if (options.seed != 0) gen_ = absl::BitGen(std::seed_seq{static_cast<uint32_t>(options.seed)});
  }

  int num_shards() const override { return static_cast<int>(stubs_.size()); }

  std::vector<absl::StatusOr<v1::ReplayStatus>> StatusEach(absl::Duration timeout) override {
    const size_t n = stubs_.size();
    std::vector<absl::StatusOr<v1::ReplayStatus>> result(n, absl::UnknownError("not asked"));
    std::vector<bool> ask(n, false);
    for (size_t i = 0; i < n; ++i) {
      absl::Status down = health_.DownError(i);
      ask[i] = down.ok();
      if (!down.ok()) result[i] = std::move(down);
    }
    health_.ProbeDue(timeout);
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
      stubs_[i]->async()->GetStatus(contexts[i].get(), &request, &out[i], [&, i](grpc::Status s) {
        status[i] = std::move(s);
        counter.DecrementCount();
      });
    }
    counter.Wait();
    for (size_t i = 0; i < n; ++i) {
      if (!ask[i]) continue;
      if (status[i].ok()) {
        health_.RecordSize(i, out[i].size());
        result[i] = std::move(out[i]);
        continue;
      }
      // GetStatus never waits inside the shard: no answer in time is no answer.
      if (status[i].error_code() == grpc::StatusCode::UNAVAILABLE ||
          status[i].error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        health_.MarkDown(i, status[i].error_message());
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
    health_.ProbeDue(timeout);
    std::vector<uint64_t> sizes;
    std::vector<bool> up;
    health_.Get(&up, &sizes);
    bool any_up = false, any_rows = false;
    for (size_t i = 0; i < n; ++i) {
      any_up |= up[i];
      any_rows |= sizes[i] > 0;
    }
    if (!any_up) return health_.NoShardError();
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
    for (size_t i = 0; i < n; ++i) {
      if (counts[i] == 0) continue;
      if (status[i].ok()) {
        health_.RecordSize(i, parts[i].table_size());  // fresh sizes for the next split
        continue;
      }
      if (status[i].error_code() == grpc::StatusCode::UNAVAILABLE) {
        // Gone (connection refused or reset, shutting down): leave it out
        // until a probe finds it again, so the others keep serving.
        health_.MarkDown(i, status[i].error_message());
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
    if (!first_error.ok()) {
      for (size_t i : to_probe) health_.Probe(i, timeout);
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
    EncodeVector(priorities, request.mutable_priority());
    v1::UpdatePrioritiesResponse response;
    grpc::ClientContext context;
    PrepareClientContext(&context, timeout, token_);
    grpc::Status s = stubs_[shard]->UpdatePriorities(&context, request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    return response.updated();
  }

 private:
  // The one check of shard i's answer to a sample of `rows` rows: its batch
  // (TransitionBatchView::Decode against the learner's sizes), its row count,
  // a key and a finite probability per row.
  absl::StatusOr<TransitionBatchView> CheckAnswer(size_t i, const v1::SampleResponse& answer,
                                                  int64_t rows) const {
    auto malformed = [&](absl::string_view what) {
      absl::Status s = absl::InternalError(
          absl::StrCat("shard ", i, " (", addresses_[i], "): malformed sample answer: ", what));
      s.SetPayload(kMalformedAnswerPayload, absl::Cord());
      return s;
    };
    absl::StatusOr<TransitionBatchView> view =
        TransitionBatchView::Decode(answer.batch(), obs_dim_, act_dim_);
    if (!view.ok()) return malformed(view.status().message());
    if (view->rows() != rows) {
      return malformed(absl::StrCat("batch.obs: ", view->rows(), " rows, asked for ", rows));
    }
    if (answer.key_size() != rows) {
      return malformed(
          absl::StrCat("key: ", answer.key_size(), " values, expected one per row (", rows, ")"));
    }
    const int64_t shape[] = {rows};
    if (auto p = DecodeTensor(answer.probability(), "probability", shape); !p.ok()) {
      return malformed(p.status().message());
    }
    return view;
  }

  absl::StatusOr<MergedSample> Merge(std::vector<v1::SampleResponse>& parts,
                                     const std::vector<int>& counts,
                                     const std::vector<uint64_t>& sizes, uint64_t total) const {
    std::vector<size_t> asked;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (counts[i] > 0) asked.push_back(i);
    }
    auto out = std::make_unique<v1::SampleResponse>();
    std::vector<uint32_t> shard;
    if (asked.size() == 1) {
      // One part: take it as it is (no copy), rescaling its probabilities.
      const size_t only = asked[0];
      *out = std::move(parts[only]);
      ASSIGN_OR_RETURN(TransitionBatchView batch, CheckAnswer(only, *out, counts[only]));
      const double share = static_cast<double>(sizes[only]) / static_cast<double>(total);
      ScaleProbabilities(out->mutable_probability()->mutable_data(), share, nullptr);
      out->set_table_size(total);
      shard.assign(static_cast<size_t>(counts[only]), static_cast<uint32_t>(only));
      return MergedSample(std::move(out), std::move(shard), std::move(batch));
    }
    std::vector<TransitionBatchView> views;
    views.reserve(asked.size());
    for (size_t i : asked) {
      ASSIGN_OR_RETURN(TransitionBatchView v, CheckAnswer(i, parts[i], counts[i]));
      views.push_back(std::move(v));
    }
    std::vector<const TransitionBatchView*> each;
    each.reserve(views.size());
    for (const TransitionBatchView& v : views) each.push_back(&v);
    TransitionBatchView batch = TransitionBatchView::Concat(each, out->mutable_batch());
    std::string prob;
    for (size_t i : asked) {
      out->mutable_key()->MergeFrom(parts[i].key());
      // A row's probability in the union: P(shard i) x P(row | shard i).
      const double share = static_cast<double>(sizes[i]) / static_cast<double>(total);
      ScaleProbabilities(parts[i].mutable_probability()->mutable_data(), share, &prob);
      shard.insert(shard.end(), static_cast<size_t>(counts[i]), static_cast<uint32_t>(i));
    }
    out->mutable_probability()->add_shape(batch.rows());
    out->mutable_probability()->set_data(std::move(prob));
    out->set_table_size(total);
    return MergedSample(std::move(out), std::move(shard), std::move(batch));
  }

  std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs_;
  const std::vector<std::string> addresses_;
  const std::string token_;
  const int64_t obs_dim_;
  const int64_t act_dim_;
  // After stubs_: destroyed first, so its probes end before the stubs go.
  ShardHealth health_;
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

absl::StatusOr<std::unique_ptr<ReplaySampler>> ReplaySampler::Create(
    const SamplerOptions& options) {
  if (options.addresses.empty()) return absl::InvalidArgumentError("addresses: no shard given");
  if (options.obs_dim < 1 || options.act_dim < 1) {
    return absl::InvalidArgumentError(absl::StrCat("obs_dim/act_dim: ", options.obs_dim, "/",
                                                   options.act_dim, ", both must be >= 1"));
  }
  ASSIGN_OR_RETURN(std::string token, ReadClientToken(options.client));
  std::vector<std::unique_ptr<v1::ReplayService::Stub>> stubs;
  for (const std::string& address : options.addresses) {
    ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                     MakeChannel(address, options.client, options.max_message_bytes));
    stubs.push_back(v1::ReplayService::NewStub(channel));
  }
  return std::unique_ptr<ReplaySampler>(
      new ReplaySamplerImpl(std::move(stubs), options, std::move(token)));
}

bool IsMalformedSampleAnswer(const absl::Status& status) {
  return status.GetPayload(kMalformedAnswerPayload).has_value();
}

}  // namespace sac::replay
