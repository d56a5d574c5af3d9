#include "policy/episodes.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace sac {

absl::StatusOr<std::vector<double>> RunEpisodes(envs::EnvBatch& batch, PolicyMlp& policy,
                                                bool deterministic, std::mt19937_64& rng,
                                                const EpisodeHook& hook) {
  if (batch.obs_dim() != policy.obs_dim() || batch.act_dim() != policy.act_dim()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "policy sizes obs ", policy.obs_dim(), " act ", policy.act_dim(), " do not match ",
        batch.task(), " (obs ", batch.obs_dim(), ", act ", batch.act_dim(), ")"));
  }
  RETURN_IF_ERROR(batch.Reset());
  const int n = batch.num_envs();
  std::vector<float> actions(static_cast<size_t>(n) * batch.act_dim());
  std::vector<double> returns(n, NAN);
  int done = 0;
  while (done < n) {
    const auto obs = batch.observations();
    policy.Act(std::span<const float>(obs.data(), obs.size()), n, deterministic, &rng, actions);
    if (hook) RETURN_IF_ERROR(hook(EpisodeStep{batch, actions, returns}));
    RETURN_IF_ERROR(batch.Step(actions));
    for (int i = 0; i < n; ++i) {
      if (std::isnan(returns[i]) && (batch.terminated()[i] || batch.truncated()[i])) {
        returns[i] = batch.episode_returns()[i];
        ++done;
      }
    }
  }
  return returns;
}

ReturnStats SummarizeReturns(std::span<const double> returns) {
  ReturnStats s;
  const double n = static_cast<double>(returns.size());
  for (double r : returns) s.mean += r / n;
  for (double r : returns) s.std += (r - s.mean) * (r - s.mean) / n;
  s.std = std::sqrt(s.std);
  s.min = *std::min_element(returns.begin(), returns.end());
  s.max = *std::max_element(returns.begin(), returns.end());
  return s;
}

}  // namespace sac
