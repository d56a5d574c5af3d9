"""A policy snapshot written by the C++ learner loads in Python with the
`safetensors` package and python/sac_cluster/policy.py, and the rebuilt
module's actions equal the C++ actions on the same observations (1e-6)."""

import os
import subprocess

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from sac_cluster.policy import SNAPSHOT_FORMAT, SacPolicy, load_policy

SOURCE_DIR = os.environ.get("SAC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("SAC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
TOOL = os.path.join(BINARY_DIR, "bin", "sac_learner_tool")


@pytest.mark.parametrize("variant", ["v1", "v2"])
def test_snapshot_rebuilds_and_acts_like_cpp(variant, tmp_path):
    assert os.path.exists(TOOL), f"{TOOL} is not built (ninja sac_learner_tool)"
    subprocess.run([TOOL, "snapshot", f"--variant={variant}", f"--out={tmp_path}"], check=True)
    path = str(tmp_path / "policy.safetensors")

    # The raw file, read by the reference implementation of the format.
    with safe_open(path, framework="pt") as f:
        raw_meta = f.metadata()
        names = sorted(f.keys())
    assert raw_meta["format"] == SNAPSHOT_FORMAT
    assert raw_meta["squash"] == "tanh" and raw_meta["action_transform"] == "affine_to_bounds"
    assert names == sorted(["policy.fc0.weight", "policy.fc0.bias", "policy.fc1.weight",
                            "policy.fc1.bias", "policy.mean.weight", "policy.mean.bias",
                            "policy.log_std.weight", "policy.log_std.bias"])

    policy, meta = load_policy(path)
    assert isinstance(policy, SacPolicy)
    assert meta["task"] == "HalfCheetah-v5"
    assert meta["obs_dim"] == 17 and meta["act_dim"] == 6
    assert meta["hidden_sizes"] == [256, 256]
    assert meta["variant"] == variant
    assert meta["version"] == 3 and meta["env_steps"] == 12345 and meta["updates"] == 5
    assert meta["wall_time_seconds"] == 6.25
    assert meta["action_low"] == pytest.approx([-1.0 - 0.1 * j for j in range(6)], abs=1e-6)
    assert meta["action_high"] == pytest.approx([1.0 + 0.3 * j for j in range(6)], abs=1e-6)

    parity = load_file(str(tmp_path / "parity.safetensors"))
    with torch.no_grad():
        det = policy(parity["obs"])
        sto, log_prob = policy.sample(parity["obs"], noise=parity["noise"])
    assert (det - parity["deterministic"]).abs().max().item() <= 1e-6
    assert (sto - parity["stochastic"]).abs().max().item() <= 1e-6
    # log-probs are sums over 6 dims of terms up to ~30: relative 1e-6.
    assert torch.allclose(log_prob, parity["log_prob"], rtol=1e-6, atol=1e-5)
    # Large observations (rows 0-7, x10) push the squashing toward the bounds.
    assert ((det - policy.action_bias) / policy.action_scale).abs().max().item() > 0.8
    assert not torch.equal(det, sto)


def test_unknown_output_transform_is_refused(tmp_path):
    assert os.path.exists(TOOL), f"{TOOL} is not built (ninja sac_learner_tool)"
    subprocess.run([TOOL, "snapshot", "--variant=v2", f"--out={tmp_path}"], check=True)
    path = str(tmp_path / "policy.safetensors")
    with safe_open(path, framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(path)
    # Written before the transform keys existed: read as tanh + affine_to_bounds.
    older = {k: v for k, v in meta.items() if k not in ("squash", "action_transform")}
    save_file(tensors, str(tmp_path / "older.safetensors"), metadata=older)
    load_policy(str(tmp_path / "older.safetensors"))
    for key, value in (("squash", "clip"), ("action_transform", "none")):
        save_file(tensors, str(tmp_path / "other.safetensors"), metadata={**meta, key: value})
        with pytest.raises(ValueError, match=f"{key} '{value}' is not one this reader knows"):
            load_policy(str(tmp_path / "other.safetensors"))
