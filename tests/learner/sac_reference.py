"""A plain PyTorch implementation of SAC v1 and v2, written from the paper
(Haarnoja et al. 2018) independently of the C++ learner, for the golden test
(tests/python/test_learner_golden.py) and the Python figure of
bench/learner_throughput. Textbook structure on purpose: one nn.Module per
network, one Adam per network, one loss per network and torch.autograd.grad
for each; no fusion.

Names follow the C++ learner's AllTensors(): policy.fc{i}, policy.mean,
policy.log_std; q1.fc{i}, q2.fc{i}, v.fc{i} (the last fc is the output layer);
targets q1_target.*, q2_target.* (v2) or v_target.* (v1); log_alpha.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.distributions import Normal
from torch.nn import functional as F


class Mlp(nn.Module):
    """fc0 .. fc{L}: Linear layers with ReLU between them, none after the last."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = len(sizes) - 1
        for i in range(self.layers):
            setattr(self, f"fc{i}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        for i in range(self.layers):
            x = getattr(self, f"fc{i}")(x)
            if i + 1 < self.layers:
                x = F.relu(x)
        return x


class Policy(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden):
        super().__init__()
        sizes = [obs_dim] + list(hidden)
        self.hidden = len(hidden)
        for i in range(self.hidden):
            setattr(self, f"fc{i}", nn.Linear(sizes[i], sizes[i + 1]))
        self.mean = nn.Linear(sizes[-1], act_dim)
        self.log_std = nn.Linear(sizes[-1], act_dim)

    def forward(self, obs):
        h = obs
        for i in range(self.hidden):
            h = F.relu(getattr(self, f"fc{i}")(h))
        return self.mean(h), self.log_std(h)


class ReferenceSac:
    def __init__(self, variant, obs_dim, act_dim, hidden, action_low, action_high, *, lr=3e-4,
                 gamma=0.99, tau=0.005, reward_scale=None, temperature=1.0,
                 target_entropy=None, log_std_min=-20.0, log_std_max=2.0, learn_temperature=True):
        assert variant in ("v1", "v2")
        self.variant = variant
        # v2 learns alpha unless told not to; v1 never does.
        self.learn_alpha = variant == "v2" and learn_temperature
        self.gamma, self.tau = gamma, tau
        self.reward_scale = reward_scale if reward_scale is not None else (5.0 if variant == "v1" else 1.0)
        self.target_entropy = -float(act_dim) if target_entropy is None else target_entropy
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        low = torch.as_tensor(action_low, dtype=torch.float32)
        high = torch.as_tensor(action_high, dtype=torch.float32)
        self.scale, self.bias = (high - low) / 2, (high + low) / 2
        self.policy = Policy(obs_dim, act_dim, hidden)
        self.q1 = Mlp([obs_dim + act_dim] + list(hidden) + [1])
        self.q2 = Mlp([obs_dim + act_dim] + list(hidden) + [1])
        self.log_alpha = nn.Parameter(torch.tensor(math.log(temperature)))
        self.fixed_alpha = temperature
        if variant == "v1":
            self.v = Mlp([obs_dim] + list(hidden) + [1])
            self.v_target = copy.deepcopy(self.v).requires_grad_(False)
            trained = {"policy": self.policy, "q1": self.q1, "q2": self.q2, "v": self.v}
        else:
            self.q1_target = copy.deepcopy(self.q1).requires_grad_(False)
            self.q2_target = copy.deepcopy(self.q2).requires_grad_(False)
            trained = {"policy": self.policy, "q1": self.q1, "q2": self.q2}
        self.trained = trained
        self.optimizers = {name: torch.optim.Adam(m.parameters(), lr=lr) for name, m in trained.items()}
        if self.learn_alpha:
            self.optimizers["log_alpha"] = torch.optim.Adam([self.log_alpha], lr=lr)

    def modules(self):
        out = dict(self.trained)
        if self.variant == "v1":
            out["v_target"] = self.v_target
        else:
            out["q1_target"] = self.q1_target
            out["q2_target"] = self.q2_target
        return out

    def load(self, tensors):
        """Copies parameters by name from a {name: tensor} dict (C++ AllTensors names)."""
        with torch.no_grad():
            for prefix, module in self.modules().items():
                for name, p in module.named_parameters():
                    p.copy_(tensors[f"{prefix}.{name}"])
            self.log_alpha.copy_(tensors["log_alpha"].reshape(()))

    def state(self):
        out = {}
        for prefix, module in self.modules().items():
            for name, p in module.named_parameters():
                out[f"{prefix}.{name}"] = p.detach()
        out["log_alpha"] = self.log_alpha.detach()
        for oname, opt in self.optimizers.items():
            params = [self.log_alpha] if oname == "log_alpha" else list(self.trained[oname].parameters())
            names = ["log_alpha"] if oname == "log_alpha" else [f"{oname}.{n}" for n, _ in self.trained[oname].named_parameters()]
            for n, p in zip(names, params):
                st = opt.state.get(p)
                if st:
                    out[f"adam.exp_avg.{n}"] = st["exp_avg"]
                    out[f"adam.exp_avg_sq.{n}"] = st["exp_avg_sq"]
        return out

    def sample(self, obs, eps):
        """Reparameterized tanh-Gaussian sample (eq. 11) and its log-density with
        the change-of-variables correction (appendix C)."""
        mean, log_std = self.policy(obs)
        log_std = torch.clamp(log_std, self.log_std_min, self.log_std_max)
        std = log_std.exp()
        u = mean + std * eps
        log_prob = Normal(mean, std).log_prob(u).sum(-1)
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        log_prob = log_prob - torch.log(self.scale).sum()
        return torch.tanh(u) * self.scale + self.bias, log_prob, log_std

    def update(self, obs, action, reward, next_obs, terminated, truncated, noise):
        """One gradient step of every network; `noise` [k, B, A] (v1: k=1, the
        actions at s; v2: k=2, the actions at s' then at s). `truncated` is
        accepted and ignored on purpose: only termination stops bootstrapping."""
        del truncated
        not_done = 1.0 - terminated
        alpha = self.log_alpha.exp().detach() if self.learn_alpha else self.fixed_alpha
        losses = {}
        with torch.no_grad():
            if self.variant == "v1":
                next_v = self.v_target(next_obs).squeeze(-1)  # eq. 8
            else:
                a_next, logp_next, _ = self.sample(next_obs, noise[0])
                sa_next = torch.cat([next_obs, a_next], -1)
                next_v = torch.min(self.q1_target(sa_next), self.q2_target(sa_next)).squeeze(-1) - alpha * logp_next
            q_hat = self.reward_scale * reward + self.gamma * not_done * next_v
        a_new, logp, log_std = self.sample(obs, noise[1] if self.variant == "v2" else noise[0])
        sa_new = torch.cat([obs, a_new], -1)
        min_q_new = torch.min(self.q1(sa_new), self.q2(sa_new)).squeeze(-1)
        sa = torch.cat([obs, action], -1)
        q1 = self.q1(sa).squeeze(-1)
        q2 = self.q2(sa).squeeze(-1)
        losses["q1"] = 0.5 * ((q1 - q_hat) ** 2).mean()  # eq. 7
        losses["q2"] = 0.5 * ((q2 - q_hat) ** 2).mean()
        losses["policy"] = (alpha * logp - min_q_new).mean()  # eq. 12
        if self.variant == "v1":
            v = self.v(obs).squeeze(-1)
            losses["v"] = 0.5 * ((v - (min_q_new - alpha * logp).detach()) ** 2).mean()  # eq. 5
        if self.learn_alpha:
            losses["log_alpha"] = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        # Every loss's gradient w.r.t. its own network only, all from the
        # parameters before the step; then every optimizer steps.
        for name, loss in losses.items():
            params = [self.log_alpha] if name == "log_alpha" else list(self.trained[name].parameters())
            grads = torch.autograd.grad(loss, params, retain_graph=True)
            for p, g in zip(params, grads):
                p.grad = g
        for opt in self.optimizers.values():
            opt.step()
        with torch.no_grad():
            pairs = [(self.v_target, self.v)] if self.variant == "v1" else [(self.q1_target, self.q1), (self.q2_target, self.q2)]
            for target, source in pairs:
                for tp, p in zip(target.parameters(), source.parameters()):
                    tp.mul_(1 - self.tau).add_(self.tau * p)
        metrics = {
            "q1_loss": losses["q1"].item(), "q2_loss": losses["q2"].item(),
            "policy_loss": losses["policy"].item(),
            "v_loss": losses["v"].item() if "v" in losses else float("nan"),
            "temperature_loss": losses["log_alpha"].item() if "log_alpha" in losses else float("nan"),
            "temperature": float(alpha), "mean_log_prob": logp.mean().item(),
            "q_target_mean": q_hat.mean().item(), "log_std_mean": log_std.mean().item(),
        }
        return metrics
