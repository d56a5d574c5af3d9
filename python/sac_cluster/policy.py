"""Rebuild a sac-cluster policy snapshot as a torch.nn.Module.

A snapshot is a safetensors file written by the learner (learner/sac_learner.cc,
docs/learner.md): the policy network's float32 tensors

    policy.fc{i}.weight [out, in], policy.fc{i}.bias [out]   hidden layers, ReLU
    policy.mean.weight, policy.mean.bias                      Gaussian mean head
    policy.log_std.weight, policy.log_std.bias                log-std head

and string metadata in the header (task, obs_dim, act_dim, action_low,
action_high, hidden_sizes, activation, variant, version, env_steps, updates,
wall_time_seconds, log_std_min, log_std_max, format, squash, action_transform).

The action is tanh(u) * scale + bias (squash "tanh", action_transform
"affine_to_bounds": the only ones there are; older files without the two keys
mean the same) with u = mean (deterministic) or
u = mean + exp(clamp(log_std)) * noise (stochastic), scale = (high - low) / 2,
bias = (high + low) / 2.

    policy, meta = load_policy("policy-000010.safetensors")
    action = policy(obs)                                    # deterministic
    action, log_prob = policy.sample(obs, noise=noise)      # stochastic
"""

from __future__ import annotations

import json
import math

import torch
from safetensors import safe_open
from torch import nn
from torch.nn import functional as F

SNAPSHOT_FORMAT = "sac-cluster-policy/1"
# The output transform this reader implements (metadata key -> value).
OUTPUT_TRANSFORM = {"squash": "tanh", "action_transform": "affine_to_bounds"}
_INT_KEYS = ("obs_dim", "act_dim", "version", "env_steps", "updates")
_FLOAT_KEYS = ("wall_time_seconds", "log_std_min", "log_std_max")
_LIST_KEYS = ("action_low", "action_high", "hidden_sizes")


class SacPolicy(nn.Module):
    """The tanh-squashed Gaussian policy of sac-cluster (both variants)."""

    def __init__(self, obs_dim, act_dim, hidden_sizes, action_low, action_high,
                 log_std_min=-20.0, log_std_max=2.0):
        super().__init__()
        self.obs_dim = int(obs_dim)
        self.act_dim = int(act_dim)
        self.hidden_sizes = [int(h) for h in hidden_sizes]
        self.log_std_min = float(log_std_min)
        self.log_std_max = float(log_std_max)
        sizes = [self.obs_dim] + self.hidden_sizes
        for i in range(len(self.hidden_sizes)):
            setattr(self, f"fc{i}", nn.Linear(sizes[i], sizes[i + 1]))
        self.mean = nn.Linear(sizes[-1], self.act_dim)
        self.log_std = nn.Linear(sizes[-1], self.act_dim)
        low = torch.as_tensor(action_low, dtype=torch.float32)
        high = torch.as_tensor(action_high, dtype=torch.float32)
        self.register_buffer("action_scale", (high - low) / 2.0, persistent=False)
        self.register_buffer("action_bias", (high + low) / 2.0, persistent=False)

    def distribution(self, obs):
        """(mean, clamped log_std), each [N, act_dim]."""
        h = obs
        for i in range(len(self.hidden_sizes)):
            h = F.relu(getattr(self, f"fc{i}")(h))
        log_std = self.log_std(h).clamp(self.log_std_min, self.log_std_max)
        return self.mean(h), log_std

    def forward(self, obs, deterministic=True, noise=None):
        """Actions in env units: tanh(mean) scaled, or a sample (see sample())."""
        if deterministic:
            mean, _ = self.distribution(obs)
            return torch.tanh(mean) * self.action_scale + self.action_bias
        return self.sample(obs, noise=noise)[0]

    def sample(self, obs, noise=None, generator=None):
        """(actions, log_prob): the reparameterized sample with standard-normal
        `noise` ([N, act_dim]; drawn when None) and its log-density, including
        the squashing correction -sum log(scale * (1 - tanh(u)^2))."""
        mean, log_std = self.distribution(obs)
        if noise is None:
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                                device=mean.device)
        u = mean + log_std.exp() * noise
        gaussian = (-0.5 * noise.square() - log_std).sum(-1) - 0.5 * math.log(2 * math.pi) * self.act_dim
        log_det = (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        log_prob = gaussian - log_det - torch.log(self.action_scale).sum()
        return torch.tanh(u) * self.action_scale + self.action_bias, log_prob


def parse_metadata(raw):
    """The snapshot header's string map with numbers and lists decoded."""
    meta = dict(raw)
    for key in _INT_KEYS:
        if key in meta:
            meta[key] = int(meta[key])
    for key in _FLOAT_KEYS:
        if key in meta:
            meta[key] = float(meta[key])
    for key in _LIST_KEYS:
        if key in meta:
            # policy/policy_metadata writes JSON arrays ("[256,256]"); plain
            # "256,256" is accepted too.
            text = meta[key].strip()
            body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
            values = [json.loads(v) for v in body.split(",") if v.strip()]
            meta[key] = [int(v) for v in values] if key == "hidden_sizes" else [float(v) for v in values]
    return meta


def load_policy(path, device="cpu"):
    """Reads a snapshot with `safetensors`; returns (SacPolicy in eval mode, metadata)."""
    with safe_open(path, framework="pt", device=str(device)) as f:
        raw = f.metadata() or {}
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    if raw.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: not a sac-cluster policy snapshot (format {raw.get('format')!r})")
    for key, known in OUTPUT_TRANSFORM.items():
        if raw.get(key, known) != known:
            raise ValueError(f"{path}: {key} {raw[key]!r} is not one this reader knows ({known!r})")
    meta = parse_metadata(raw)
    if meta.get("activation", "relu") != "relu":
        raise ValueError(f"{path}: unsupported activation {meta['activation']!r}")
    # The log-std range, as the C++ reader takes it (policy/policy_weights.cc):
    # the paper's [-20, 2] unless the file gives a range with min < max.
    log_std_min, log_std_max = meta.get("log_std_min", -20.0), meta.get("log_std_max", 2.0)
    if not log_std_min < log_std_max:
        log_std_min, log_std_max = -20.0, 2.0
    policy = SacPolicy(meta["obs_dim"], meta["act_dim"], meta["hidden_sizes"], meta["action_low"],
                       meta["action_high"], log_std_min, log_std_max)
    state = {name[len("policy."):]: t for name, t in tensors.items() if name.startswith("policy.")}
    policy.load_state_dict(state, strict=True)
    return policy.to(device).eval(), meta
