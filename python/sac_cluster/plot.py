"""Learning curves of sac-cluster runs: `sacctl plot RUN_DIR... [--out=F]`.

Each RUN_DIR is a learner run directory (or a `sacctl local` run directory,
whose learner/ is used) holding eval.csv (written by sac-learner, see
docs/operations.md). Runs are grouped by their label (--label=NAME:DIR... or,
by default, the run directory's parent name without a trailing _seedN), and
each group is drawn as the mean deterministic evaluation return against env
steps with a band of one standard deviation over its runs. Reference points
(e.g. the paper's values) are drawn as marks from a CSV given with
--reference=FILE (columns: label,env_steps,return,source).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def read_eval_csv(run_dir):
    """Returns (env_steps, eval_return_mean) arrays of a run directory."""
    for candidate in (os.path.join(run_dir, "eval.csv"),
                      os.path.join(run_dir, "learner", "eval.csv")):
        if os.path.exists(candidate):
            break
    else:
        raise FileNotFoundError(f"no eval.csv in {run_dir} (or {run_dir}/learner)")
    steps, returns = [], []
    with open(candidate, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"env_steps", "eval_return_mean"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{candidate}: missing columns {sorted(missing)}")
        for row in reader:
            steps.append(float(row["env_steps"]))
            returns.append(float(row["eval_return_mean"]))
    if not steps:
        raise ValueError(f"{candidate}: no evaluations yet")
    order = np.argsort(steps)
    return np.asarray(steps)[order], np.asarray(returns)[order]


def read_reference_csv(path):
    """Returns [(label, env_steps, return, source)] of a reference CSV."""
    points = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"label", "env_steps", "return", "source"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            try:
                points.append((row["label"], float(row["env_steps"]), float(row["return"]),
                               row["source"]))
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{line}: env_steps and return must be numbers") from None
    return points


def default_label(run_dir):
    name = os.path.basename(os.path.normpath(run_dir))
    return re.sub(r"[_-]seed\d+$", "", name)


def aggregate(curves):
    """Mean and std over runs on a common grid of env steps, over the span all
    runs cover: the grid is every run's own evaluation points there, so each
    evaluation is drawn at its value (a run's curve is its points joined; the
    others are interpolated between theirs)."""
    end = min(s[-1] for s, _ in curves)
    start = max(s[0] for s, _ in curves)
    points = np.concatenate([s for s, _ in curves])
    grid = np.unique(points[(points >= start) & (points <= end)])
    if grid.size == 0:  # the runs' spans do not overlap
        grid = np.array([end])
    values = np.stack([np.interp(grid, s, r) for s, r in curves])
    return grid, values.mean(axis=0), values.std(axis=0)


def main(argv=None):
    p = argparse.ArgumentParser(prog="sacctl plot", description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories, or LABEL:DIR")
    p.add_argument("--out", default="learning_curves.png")
    p.add_argument("--title", default="sac-cluster: deterministic evaluation return")
    p.add_argument("--reference", default=None, help="CSV of reference points")
    args = p.parse_args(argv)

    groups = {}
    for spec in args.runs:
        label, _, path = spec.rpartition(":") if ":" in spec and not os.path.exists(spec) else ("", "", spec)
        label = label or default_label(path)
        try:
            groups.setdefault(label, []).append(read_eval_csv(path))
        except (OSError, ValueError) as e:
            print(f"sacctl plot: {e}", file=sys.stderr)
            return 2
    references = []
    if args.reference:
        try:
            references = read_reference_csv(args.reference)
        except (OSError, ValueError) as e:
            print(f"sacctl plot: --reference: {e}", file=sys.stderr)
            return 2

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for label, curves in sorted(groups.items()):
        grid, mean, std = aggregate(curves)
        line, = ax.plot(grid, mean, label=f"{label} ({len(curves)} run{'s' * (len(curves) > 1)})")
        if len(curves) > 1:
            ax.fill_between(grid, mean - std, mean + std, alpha=0.2, color=line.get_color())
    # Reference points: black marks, each named in the legend (text beside the
    # marks would push the axes aside).
    markers = ["x", "+", "D", "^", "s", "v"]
    for i, (label, steps, value, source) in enumerate(references):
        ax.scatter([steps], [value], marker=markers[i % len(markers)], color="black", zorder=5,
                   label=f"{label} ({source})")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(args.title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
