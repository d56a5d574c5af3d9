"""The learning-results table of docs/results.md from committed run folders.

  python3 bench/learning/table.py [--steps=100000,200000,300000] RESULTS_DIR

RESULTS_DIR holds one folder per run named <task>_<variant>[_<tag>]_seed<N>,
each with the eval.csv the learner wrote (docs/results/ is laid out so). Runs
are grouped by everything before _seed<N>; each group's row gives, at each
step count, the mean +- standard deviation over its seeds of the deterministic
evaluation return of the evaluation taken as the run crossed that step (the
first within 5000 steps after it; a run that has not reached a column shows
"-"; one seed's value stands alone, without a spread; "(k)" after a cell: only
k of the group's seeds reached it), and the number of seeds. Prints a Markdown
table.
"""

import argparse
import csv
import math
import os
import re
import sys

RUN = re.compile(r"^(?P<group>.+)_seed(?P<seed>\d+)$")


def read_curve(path):
    steps, returns = [], []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            steps.append(int(row["env_steps"]))
            returns.append(float(row["eval_return_mean"]))
    return steps, returns


def value_at(curve, step, window=5000):
    """The evaluation taken when the run crossed `step` (the first at or after
    it, within `window`: evaluations fire at the first batch past each multiple
    of the interval), or None."""
    for s, r in zip(*curve):
        if step <= s < step + window:
            return r
    return None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir")
    parser.add_argument("--steps", default="100000,200000,300000")
    args = parser.parse_args(argv)
    try:
        steps = [int(s) for s in args.steps.split(",")]
    except ValueError:
        parser.error(f"--steps: expected comma-separated integers, got '{args.steps}'")
    groups = {}
    for name in sorted(os.listdir(args.results_dir)):
        match = RUN.match(name)
        csv_path = os.path.join(args.results_dir, name, "eval.csv")
        if not match or not os.path.exists(csv_path):
            continue
        groups.setdefault(match["group"], []).append(read_curve(csv_path))
    if not groups:
        sys.exit(f"table.py: no <name>_seed<N>/eval.csv under {args.results_dir}")
    print("| run | seeds | " + " | ".join(f"{s // 1000}k" for s in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    for group, curves in groups.items():
        cells = []
        for s in steps:
            values = [v for v in (value_at(c, s) for c in curves) if v is not None]
            if not values:
                cells.append("-")
                continue
            mean = sum(values) / len(values)
            if len(values) == 1:  # one seed has no spread to show
                cells.append(f"{mean:.0f}" + (" (1)" if len(curves) > 1 else ""))
                continue
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
            cells.append(f"{mean:.0f} +- {std:.0f}" + (f" ({len(values)})"
                                                        if len(values) != len(curves) else ""))
        print(f"| {group} | {len(curves)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
