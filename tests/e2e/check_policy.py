"""Second half of the end-to-end test (tests/e2e/cluster_test.cc): from Python,
pull the newest snapshot from a running sac-learner over gRPC, rebuild it as a
torch module, check that its actions equal the C++ actor's (the observations
and actions `sacctl eval --dump_actions` wrote) within 1e-5, and that
Gymnasium's own environment scores it like `sacctl eval` did.

Exit status 0 when every check holds; the reason otherwise."""

import argparse
import sys

import numpy as np
import torch

from sac_cluster.client import pull_snapshot
from sac_cluster.evaluate import evaluate
from sac_cluster.policy import load_policy


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--learner", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--actions_csv", required=True)
    p.add_argument("--sacctl_mean", type=float, required=True)
    p.add_argument("--min_return", type=float, required=True)
    p.add_argument("--episodes", type=int, default=10)
    args = p.parse_args()

    path, meta = pull_snapshot(args.learner, out=args.out)
    policy, header = load_policy(path)
    print(f"pulled {path}: {meta.task} v{meta.version}, {meta.env_steps} env steps")

    rows = np.loadtxt(args.actions_csv, delimiter=",", dtype=np.float64, ndmin=2)
    obs = torch.as_tensor(rows[:, : policy.obs_dim], dtype=torch.float32)
    cpp_actions = rows[:, policy.obs_dim:]
    with torch.no_grad():
        py_actions = policy(obs).numpy().astype(np.float64)
    worst = float(np.max(np.abs(py_actions - cpp_actions)))
    print(f"actions: {len(rows)} observations, largest |python - actor| = {worst:.3g}")
    if worst > 1e-5:
        print("FAIL: Python's actions differ from the actor's by more than 1e-5")
        return 1

    mean, std, _ = evaluate(path, episodes=args.episodes)
    print(f"gymnasium {meta.task}: return {mean:.2f} +- {std:.2f}; sacctl eval: {args.sacctl_mean:.2f}")
    if mean < args.min_return:
        print(f"FAIL: Gymnasium scores the policy {mean:.2f} < {args.min_return}")
        return 1
    if abs(mean - args.sacctl_mean) > 0.05 * max(abs(args.sacctl_mean), 1.0):
        print("FAIL: Gymnasium and sacctl eval disagree by more than 5%")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
