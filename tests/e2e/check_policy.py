"""Second half of the end-to-end test (tests/e2e/cluster_test.cc): from Python,
pull a snapshot (--version, default the newest) from a running sac-learner over
gRPC, rebuild it as a torch module, check that its actions equal the C++
actor's (the observations and actions `sacctl eval --dump_actions` wrote)
within 1e-5, that the ONNX model `sacctl pull --format=onnx` wrote (--onnx)
gives the same actions in onnxruntime within 1e-5 and carries the snapshot's
metadata, and that Gymnasium's own environment scores it like `sacctl eval`
did (within sampling error: the two start from different random initial
states).

Exit status 0 when every check holds; the reason otherwise."""

import argparse
import math
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors import safe_open

from sac_cluster.client import pull_snapshot
from sac_cluster.evaluate import evaluate
from sac_cluster.policy import load_policy


def header_strings(path):
    """The snapshot file's metadata strings, as the safetensors header has them."""
    with safe_open(path, framework="pt") as f:
        return dict(f.metadata())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--learner", required=True)
    p.add_argument("--version", type=int, default=0, help="0: the newest")
    p.add_argument("--out", required=True)
    p.add_argument("--actions_csv", required=True)
    p.add_argument("--onnx", required=True, help="the same version from sacctl pull --format=onnx")
    p.add_argument("--sacctl_mean", type=float, required=True)
    p.add_argument("--sacctl_std", type=float, required=True)
    p.add_argument("--episodes", type=int, default=20, help="in Gymnasium, as in sacctl eval")
    args = p.parse_args()

    path, meta = pull_snapshot(args.learner, version=args.version, out=args.out)
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

    model = onnx.load(args.onnx)
    onnx.checker.check_model(model, full_check=True)
    props = {p.key: p.value for p in model.metadata_props}
    if props != {**header_strings(path), "graph": "deterministic"}:
        print(f"FAIL: the ONNX model's metadata_props {props} are not the snapshot's")
        return 1
    session = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
    onnx_actions = session.run(["action"], {"observation": obs.numpy()})[0].astype(np.float64)
    worst_onnx = max(float(np.max(np.abs(onnx_actions - cpp_actions))),
                     float(np.max(np.abs(onnx_actions - py_actions))))
    print(f"onnx: largest |onnxruntime - actor or python| = {worst_onnx:.3g}")
    if worst_onnx > 1e-5:
        print("FAIL: onnxruntime's actions differ by more than 1e-5")
        return 1

    mean, std, _ = evaluate(path, episodes=args.episodes)
    print(f"gymnasium {meta.task}: return {mean:.2f} +- {std:.2f}; "
          f"sacctl eval: {args.sacctl_mean:.2f} +- {args.sacctl_std:.2f} ({args.episodes} episodes each)")
    # The two evaluations start from different random initial states, so they
    # agree up to sampling error: three standard errors of the difference (or 5%
    # when both are nearly deterministic).
    n = args.episodes
    tolerance = max(0.05 * max(abs(args.sacctl_mean), 1.0),
                    3.0 * math.sqrt(std ** 2 / n + args.sacctl_std ** 2 / n))
    if abs(mean - args.sacctl_mean) > tolerance:
        print(f"FAIL: Gymnasium and sacctl eval disagree by {abs(mean - args.sacctl_mean):.2f} "
              f"> {tolerance:.2f}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
