"""Reference figures for bench/env_throughput: env steps/s of Gymnasium v5 (one
env, gymnasium.make with its default wrappers, as users run it) and, when run
from a venv that has it, EnvPool (one thread, a batch of envs, the same tasks).
Random actions pre-drawn uniformly within the bounds; episodes reset as they end.
Time is the process's CPU time (all threads, EnvPool's workers included), as
env_throughput measures ours. Prints one line per task: `<impl> <task> <env steps per second>`.
Usage: python gym_throughput.py {gymnasium|envpool} SECONDS TASK [TASK...]
"""
import sys
import time

import numpy as np


def gymnasium_rate(task, seconds):
    import gymnasium as gym
    env = gym.make(task)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    lo, hi = env.action_space.low, env.action_space.high
    actions = rng.uniform(lo, hi, size=(4096, lo.shape[0])).astype(np.float32)
    steps, t0 = 0, time.process_time()
    while True:
        for _ in range(256):
            _, _, term, trunc, _ = env.step(actions[steps % 4096])
            steps += 1
            if term or trunc:
                env.reset()
        elapsed = time.process_time() - t0
        if elapsed >= seconds:
            return steps / elapsed


def envpool_rate(task, seconds, num_envs=8):
    import envpool
    env = envpool.make_gymnasium(task, num_envs=num_envs, batch_size=num_envs, num_threads=1,
                                 seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    lo, hi = env.action_space.low, env.action_space.high
    actions = rng.uniform(lo, hi, size=(64, num_envs, lo.shape[0])).astype(np.float32)
    steps, i, t0 = 0, 0, time.process_time()
    while True:
        for _ in range(32):
            env.step(actions[i % 64])
            i += 1
            steps += num_envs
        elapsed = time.process_time() - t0
        if elapsed >= seconds:
            return steps / elapsed


def main():
    impl, seconds, tasks = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    rate = {"gymnasium": gymnasium_rate, "envpool": envpool_rate}[impl]
    for task in tasks:
        try:
            print(impl, task, f"{rate(task, seconds):.0f}", flush=True)
        except Exception as e:  # a task the library lacks: say so, go on
            print(impl, task, "error", type(e).__name__, str(e).replace("\n", " ")[:200],
                  flush=True)


if __name__ == "__main__":
    main()
