"""What a policy snapshot does in each evaluation episode, in Gymnasium.

  python3 bench/learning/episodes.py [--episodes=10] [--seed=12345] SNAPSHOT...

For each snapshot (a .safetensors file from a run's learner/snapshots/), runs
the deterministic policy (the mean action, as the learner's evaluation does)
in Gymnasium's own environment of the snapshot's task, episode i reset with
seed SEED + i, and prints one row per episode: the return, the length, whether
it ended by termination (the body fell or left its healthy range) or by the
1000-step limit, and the return's terms as Gymnasium's info reports them
(the forward reward, control cost and contact cost, "-" where the task has
none; the healthy reward is the rest). Needs the project venv (gymnasium,
torch); the episodes are sac_cluster.evaluate.run_episodes, as
`sac-cluster-eval` runs them.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from sac_cluster.evaluate import run_episodes  # noqa: E402
from sac_cluster.policy import load_policy  # noqa: E402

TERMS = ("reward_forward", "reward_ctrl", "reward_contact")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("snapshots", nargs="+")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    for path in args.snapshots:
        try:
            policy, meta = load_policy(path)
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"episodes.py: {path}: {e}")
        print(f"{path}: {meta['task']}, env steps {meta.get('env_steps', '?')}")
        print("| episode | return | length | ended by | " + " | ".join(TERMS) + " |")
        print("|---|---|---|---|" + "---|" * len(TERMS))
        runs = run_episodes(policy, meta["task"], args.episodes, args.seed, info_keys=TERMS)
        for i, e in enumerate(runs):
            print(f"| {i} | {e.total:.0f} | {e.length} | "
                  f"{'termination' if e.terminated else 'time limit'} | "
                  + " | ".join(f"{e.terms[k]:.0f}" if k in e.terms else "-" for k in TERMS) + " |")
        returns = [e.total for e in runs]
        falls = sum(e.terminated for e in runs)
        print(f"mean return {np.mean(returns):.1f} +- {np.std(returns):.1f}; "
              f"{falls} of {args.episodes} episodes ended by termination\n")


if __name__ == "__main__":
    main(sys.argv[1:])
