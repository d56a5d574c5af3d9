"""Plain PyTorch (Python) SAC update loop: the reference figure of
bench/learner_throughput. It runs tests/learner/sac_reference.py (the same
equations the golden test checks the C++ learner against) on a fixed random
batch of HalfCheetah sizes and prints `updates_per_second=<x>`.

    python bench/reference/python_sac_loop.py --variant v2 --threads 2 --seconds 3
"""

import argparse
import os
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "learner"))
from sac_reference import ReferenceSac  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", default="v2", choices=["v1", "v2"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--obs", type=int, default=17)
    parser.add_argument("--act", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    b, o, a = args.batch, args.obs, args.act
    sac = ReferenceSac(args.variant, o, a, [256, 256], [-1.0] * a, [1.0] * a)
    obs, next_obs = torch.randn(b, o), torch.randn(b, o)
    action = torch.rand(b, a) * 2 - 1
    reward = torch.randn(b)
    terminated = (torch.rand(b) < 0.01).float()
    truncated = torch.zeros(b)
    draws = 1 if args.variant == "v1" else 2

    def step():
        sac.update(obs, action, reward, next_obs, terminated, truncated, torch.randn(draws, b, a))

    for _ in range(20):
        step()
    best = 0.0  # best of five windows, as the C++ figure
    for _ in range(5):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds / 5:
            step()
            count += 1
        best = max(best, count / (time.perf_counter() - start))
    print(f"updates_per_second={best:.2f}")


if __name__ == "__main__":
    main()
