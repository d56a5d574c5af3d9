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

import gymnasium as gym
import numpy as np
import torch

from sac_cluster.policy import load_policy


def evaluate(path, episodes=10, seed=12345, deterministic=True):
    """Returns (mean, std, returns) over `episodes` episodes of the snapshot's task."""
    policy, meta = load_policy(path)
    env = gym.make(meta["task"])
    returns = []
    generator = torch.Generator().manual_seed(seed)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
                if deterministic:
                    action = policy(x)
                else:
                    noise = torch.randn(1, policy.act_dim, generator=generator)
                    action = policy(x, deterministic=False, noise=noise)
            obs, reward, terminated, truncated, _ = env.step(action.squeeze(0).numpy())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
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
