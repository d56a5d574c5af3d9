"""Golden test of the C++ learner (learner/sac_learner.cc) against the plain
PyTorch SAC in tests/learner/sac_reference.py: from the same initial weights,
batch and policy noise, one update of v1 and of v2 must give the same losses
and the same updated parameters and Adam moments within 1e-5."""

import math
import os
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

SOURCE_DIR = os.environ.get("SAC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("SAC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
TOOL = os.path.join(BINARY_DIR, "bin", "sac_learner_tool")
sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "learner"))
from sac_reference import ReferenceSac  # noqa: E402

TOLERANCE = 1e-5


def load(path):
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()


def run_golden(variant, tmp_path):
    assert os.path.exists(TOOL), f"{TOOL} is not built (ninja sac_learner_tool)"
    subprocess.run([TOOL, "golden", f"--variant={variant}", f"--out={tmp_path}"], check=True)
    before, config = load(os.path.join(tmp_path, "before.safetensors"))
    after, metrics = load(os.path.join(tmp_path, "after.safetensors"))
    return before, config, after, metrics


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_one_update_matches_plain_pytorch(variant, tmp_path):
    torch.set_num_threads(1)
    before, config, after, metrics = run_golden(variant, tmp_path)
    obs_dim = before["batch.obs"].shape[1]
    act_dim = before["batch.action"].shape[1]
    ref = ReferenceSac(
        variant, obs_dim, act_dim, [int(h) for h in config["hidden"].strip("[]").split(",")],
        before["action_low"], before["action_high"], lr=float(config["learning_rate"]),
        gamma=float(config["gamma"]), tau=float(config["tau"]),
        reward_scale=float(config["reward_scale"]), temperature=float(config["temperature"]),
        target_entropy=float(config["target_entropy"]), log_std_min=float(config["log_std_min"]),
        log_std_max=float(config["log_std_max"]))
    ref.load(before)
    # The batch really mixes terminated and truncated rows.
    assert 0 < before["batch.terminated"].sum() < len(before["batch.terminated"])
    assert 0 < before["batch.truncated"].sum() < len(before["batch.truncated"])
    ref_metrics = ref.update(before["batch.obs"], before["batch.action"], before["batch.reward"],
                             before["batch.next_obs"], before["batch.terminated"],
                             before["batch.truncated"], before["noise"])
    worst = {}
    for key, value in ref_metrics.items():
        ours = float(metrics[key])
        if math.isnan(value):
            assert math.isnan(ours), key
            continue
        worst[key] = abs(ours - value)
        assert abs(ours - value) <= TOLERANCE * max(1.0, abs(value)), (key, ours, value)
    state = ref.state()
    compared = 0
    for name, expected in state.items():
        assert name in after, f"C++ learner has no tensor {name}"
        diff = (after[name].reshape(expected.shape) - expected).abs().max().item()
        worst[name] = diff
        assert diff <= TOLERANCE, f"{name}: max abs diff {diff}"
        # The update really moved it (a test that cannot fail proves nothing).
        if not name.startswith("adam.") and name != "log_alpha" or variant == "v2":
            if name in before and not name.endswith("_target") and "target" not in name:
                assert not torch.equal(before[name].reshape(expected.shape), expected), name
        compared += 1
    assert compared >= (40 if variant == "v1" else 36)
    top = sorted(worst.items(), key=lambda kv: -kv[1])[:5]
    print(f"{variant}: compared {compared} tensors and {len(ref_metrics)} metrics; largest diffs {top}")
