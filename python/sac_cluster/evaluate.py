"""Evaluate a policy snapshot in Gymnasium's own environment.

    sac-cluster-eval policy.safetensors --episodes 10
    python -m sac_cluster.evaluate policy.safetensors --episodes 10

runs the snapshot's task (from its metadata) with the deterministic (mean)
action and prints the mean and std return, the figure `sacctl eval` prints
for our C++ environments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from sac_cluster.policy import load_policy


@dataclass
class Episode:
    """One episode: its return, its length, whether it ended by termination
    (rather than the time limit), and the sums of the info keys asked for
    (only those the task reports)."""
    total: float
    length: int
    terminated: bool
    terms: dict = field(default_factory=dict)


def run_episodes(policy, task, episodes=10, seed=12345, deterministic=True, info_keys=()):
    """Runs `policy` (a loaded snapshot) for `episodes` episodes of Gymnasium's
    `task`, episode i reset with seed + i; returns an Episode per episode."""
    env = gym.make(task)
    out = []
    generator = torch.Generator().manual_seed(seed)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        episode = Episode(0.0, 0, False)
        while True:
            with torch.no_grad():
                x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
                if deterministic:
                    action = policy(x)
                else:
                    noise = torch.randn(1, policy.act_dim, generator=generator)
                    action = policy(x, deterministic=False, noise=noise)
            obs, reward, terminated, truncated, info = env.step(action.squeeze(0).numpy())
            episode.total += float(reward)
            episode.length += 1
            for k in info_keys:
                if k in info:
                    episode.terms[k] = episode.terms.get(k, 0.0) + float(info[k])
            if terminated or truncated:
                episode.terminated = bool(terminated)
                break
        out.append(episode)
    env.close()
    return out


def evaluate(path, episodes=10, seed=12345, deterministic=True):
    """Returns (mean, std, returns) over `episodes` episodes of the snapshot's task."""
    policy, meta = load_policy(path)
    returns = [e.total for e in run_episodes(policy, meta["task"], episodes, seed, deterministic)]
    return float(np.mean(returns)), float(np.std(returns)), returns


def main(argv=None):
    parser = argparse.ArgumentParser(description="Evaluate a snapshot in Gymnasium.")
    parser.add_argument("snapshot")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--stochastic", action="store_true")
    args = parser.parse_args(argv)
    mean, std, _ = evaluate(args.snapshot, args.episodes, args.seed, not args.stochastic)
    print(f"gymnasium eval: {args.episodes} episodes, return mean {mean:.2f} std {std:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
