"""Stable-Baselines3's SAC train step (twin Q with targets, learned entropy
coefficient: our v2) on HalfCheetah-v5 sizes, batch 256, [256, 256] networks,
one gradient step per call; prints `updates_per_second=<x>`. Runs in the
separate venv that make_sb3_venv.sh creates (never in the project's .venv).

    $(bench/reference/make_sb3_venv.sh) bench/reference/sb3_train_step.py --threads 2
"""

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.logger import configure


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    env = gym.make("HalfCheetah-v5")
    model = SAC("MlpPolicy", env, batch_size=256, learning_starts=0, buffer_size=10_000,
                device="cpu", seed=0, verbose=0)
    model.set_logger(configure(None, []))
    obs, _ = env.reset(seed=0)
    for _ in range(2_000):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, info = env.step(action)
        model.replay_buffer.add(obs[None], next_obs[None], action[None], np.array([reward]),
                                np.array([terminated]), [info])
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    model.train(gradient_steps=20, batch_size=256)
    best = 0.0  # best of five windows, as the C++ figure
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds / 5:
            model.train(gradient_steps=5, batch_size=256)
            count += 5
        best = max(best, count / (time.perf_counter() - start))
    print(f"updates_per_second={best:.2f}")


if __name__ == "__main__":
    main()
