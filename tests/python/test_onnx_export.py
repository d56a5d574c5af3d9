"""`sacctl export --format=onnx` (policy/onnx_export.h) against the policy it
exports: the graph passes onnx.checker's full check, and onnxruntime's actions
equal the C++ PolicyMlp's and PyTorch's (sac_cluster.policy) within 1e-5 on
10,000 observations from Gymnasium episodes of the snapshot's task; the
stochastic graph equals PyTorch's reparameterized sample with the same noise.
Bad inputs get one error line, a non-zero exit and no file."""

import os
import subprocess

import gymnasium as gym
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from safetensors import safe_open
from safetensors.numpy import load_file as load_numpy, save_file as save_numpy
from safetensors.torch import load_file, save_file

from sac_cluster.policy import load_policy, parse_metadata

SOURCE_DIR = os.environ.get("SAC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("SAC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
SACCTL = os.path.join(BINARY_DIR, "bin", "sacctl")
LEARNER_TOOL = os.path.join(BINARY_DIR, "bin", "sac_learner_tool")
ACT_TOOL = os.path.join(BINARY_DIR, "bin", "sac_policy_act_tool")

OPSET, IR_VERSION = 17, 8  # docs/learner.md: the pair of ONNX 1.12
OBSERVATIONS = 10_000
TOLERANCE = 1e-5


def sacctl(*args):
    return subprocess.run([SACCTL, *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    """Two HalfCheetah-v5 snapshots: the C++ learner's own (a few updates), and
    "clipped": the same with the mean head x3 (tanh saturates: |mean| up to
    about 5) and the log-std range narrowed to [-1, -0.2], inside the head's
    outputs on these observations (about -2.3 to 0.4), so that the clip acts
    on both sides. The hidden layers are left alone: scaling them scales every
    product's float32 rounding with them."""
    for tool in (SACCTL, LEARNER_TOOL, ACT_TOOL):
        assert os.path.exists(tool), f"{tool} is not built"
    d = tmp_path_factory.mktemp("onnx")
    subprocess.run([LEARNER_TOOL, "snapshot", "--variant=v2", f"--out={d}"], check=True)
    learner = str(d / "policy.safetensors")
    with safe_open(learner, framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(learner)
    for name in ("policy.mean.weight", "policy.mean.bias"):
        tensors[name] = tensors[name] * 3.0
    clipped = str(d / "clipped.safetensors")
    save_file(tensors, clipped, metadata={**meta, "log_std_min": "-1", "log_std_max": "-0.2"})
    return {"learner": learner, "clipped": clipped}


@pytest.fixture(scope="module")
def observations(snapshots):
    """10,000 observations of whole Gymnasium episodes, acted on by the
    learner snapshot's stochastic policy."""
    policy, meta = load_policy(snapshots["learner"])
    env = gym.make(meta["task"])
    generator = torch.Generator().manual_seed(7)
    rows, episode = [], 0
    while len(rows) < OBSERVATIONS:
        obs, _ = env.reset(seed=episode)
        episode += 1
        done = False
        while not done:
            rows.append(obs)
            with torch.no_grad():
                action, _ = policy.sample(torch.as_tensor(obs, dtype=torch.float32)[None],
                                          generator=generator)
            action = np.clip(action[0].numpy(), env.action_space.low, env.action_space.high)
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    env.close()
    return np.asarray(rows[:OBSERVATIONS], dtype=np.float32)


def export(snapshot, out, *extra):
    result = sacctl("export", f"--snapshot={snapshot}", "--format=onnx", f"--out={out}", *extra)
    assert result.returncode == 0, result.stderr
    assert f"ONNX opset {OPSET}, IR version {IR_VERSION}" in result.stdout
    return str(out)


def check_model(path, snapshot, graph, inputs):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == IR_VERSION
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)]
    # The IR version is the one released with the opset (the oldest that can hold it).
    assert (IR_VERSION, OPSET) in {(row[1], row[2]) for row in onnx.helper.VERSION_TABLE}
    with safe_open(snapshot, framework="pt") as f:
        meta = dict(f.metadata())
    props = {p.key: p.value for p in model.metadata_props}
    assert props.pop("graph") == graph
    # The snapshot's metadata, re-encoded by the one C++ encoder: the very
    # strings of a header the learner wrote; the same values for any other.
    assert parse_metadata(props) == parse_metadata(meta)
    if snapshot.endswith("/policy.safetensors"):  # written by the C++ learner
        assert props == meta
    assert model.model_version == int(meta["version"])

    def io(values):
        return [(v.name, v.type.tensor_type.elem_type,
                 [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim])
                for v in values]
    flt = onnx.TensorProto.FLOAT
    assert io(model.graph.input) == [(name, flt, ["N", cols]) for name, cols in inputs]
    assert io(model.graph.output) == [("action", flt, ["N", int(meta["act_dim"])])]
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def cpp_actions(snapshot, obs, tmp_path):
    save_numpy({"observation": obs}, str(tmp_path / "obs.safetensors"))
    subprocess.run([ACT_TOOL, snapshot, str(tmp_path / "obs.safetensors"),
                    str(tmp_path / "cpp.safetensors")], check=True)
    return load_numpy(str(tmp_path / "cpp.safetensors"))["action"]


@pytest.mark.parametrize("kind", ["learner", "clipped"])
def test_deterministic_graph_matches_cpp_and_torch(kind, snapshots, observations, tmp_path):
    snapshot = snapshots[kind]
    policy, meta = load_policy(snapshot)
    path = export(snapshot, tmp_path / "policy.onnx")
    session = check_model(path, snapshot, "deterministic", [("observation", meta["obs_dim"])])

    onnx_out = session.run(["action"], {"observation": observations})[0]
    cpp_out = cpp_actions(snapshot, observations, tmp_path)
    with torch.no_grad():
        torch_out = policy(torch.from_numpy(observations)).numpy()
    assert onnx_out.shape == cpp_out.shape == torch_out.shape == (OBSERVATIONS, meta["act_dim"])
    vs_cpp = float(np.max(np.abs(onnx_out - cpp_out)))
    vs_torch = float(np.max(np.abs(onnx_out - torch_out)))
    cpp_torch = float(np.max(np.abs(cpp_out - torch_out)))
    unit = np.abs((torch_out - policy.action_bias.numpy()) / policy.action_scale.numpy())
    print(f"\n{kind}: {OBSERVATIONS} observations, max |onnxruntime - C++ PolicyMlp| = {vs_cpp:.3g}, "
          f"max |onnxruntime - PyTorch| = {vs_torch:.3g}, max |C++ - PyTorch| = {cpp_torch:.3g}; "
          f"max |tanh(mean)| = {unit.max():.4f}")
    assert vs_cpp <= TOLERANCE and vs_torch <= TOLERANCE and cpp_torch <= TOLERANCE
    if kind == "clipped":
        assert unit.max() > 0.999  # the squashing near the bounds was exercised

    # The batch dimension is dynamic: one row and an odd batch give the same rows.
    for rows in (slice(0, 1), slice(100, 107)):
        part = session.run(["action"], {"observation": observations[rows]})[0]
        assert np.max(np.abs(part - onnx_out[rows])) <= 1e-6


@pytest.mark.parametrize("kind", ["learner", "clipped"])
def test_stochastic_graph_matches_torch_with_the_same_noise(kind, snapshots, observations,
                                                            tmp_path):
    snapshot = snapshots[kind]
    policy, meta = load_policy(snapshot)
    path = export(snapshot, tmp_path / "stochastic.onnx", "--stochastic")
    session = check_model(path, snapshot, "stochastic",
                          [("observation", meta["obs_dim"]), ("noise", meta["act_dim"])])
    noise = torch.randn(OBSERVATIONS, meta["act_dim"], generator=torch.Generator().manual_seed(3))
    onnx_out = session.run(["action"], {"observation": observations, "noise": noise.numpy()})[0]
    obs = torch.from_numpy(observations)
    with torch.no_grad():
        torch_out = policy.sample(obs, noise=noise)[0].numpy()
        deterministic = policy(obs).numpy()
        raw = policy.log_std(hidden_features(policy, obs))  # before the clip
    worst = float(np.max(np.abs(onnx_out - torch_out)))
    print(f"\n{kind} stochastic: max |onnxruntime - PyTorch| = {worst:.3g} "
          f"(log_std clipped below {int((raw < policy.log_std_min).sum())}, "
          f"above {int((raw > policy.log_std_max).sum())} times)")
    assert worst <= TOLERANCE
    assert np.max(np.abs(onnx_out - deterministic)) > 0.1  # the noise does reach the action
    if kind == "clipped":
        assert (raw < policy.log_std_min).any() and (raw > policy.log_std_max).any()


def hidden_features(policy, obs):
    """The last hidden layer's output of the policy MLP."""
    h = obs
    for i in range(len(policy.hidden_sizes)):
        h = torch.relu(getattr(policy, f"fc{i}")(h))
    return h


def test_bad_inputs_get_one_error_line_and_change_nothing(snapshots, tmp_path):
    good = snapshots["learner"]
    out = tmp_path / "policy.onnx"
    out.write_bytes(b"an earlier file")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(open(good, "rb").read()[:1000])
    not_policy = tmp_path / "not_policy.safetensors"
    tensors = load_file(good)
    del tensors["policy.mean.bias"]
    with safe_open(good, framework="pt") as f:
        save_file(tensors, str(not_policy), metadata=dict(f.metadata()))
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = {
        "missing snapshot": ([f"--snapshot={tmp_path / 'missing.safetensors'}", f"--out={out}"],
                             "missing.safetensors"),
        "corrupt snapshot": ([f"--snapshot={corrupt}", f"--out={out}"], "corrupt.safetensors"),
        "not a policy": ([f"--snapshot={not_policy}", f"--out={out}"], "policy.mean"),
        "unknown format": ([f"--snapshot={good}", "--format=tflite", f"--out={out}"], "tflite"),
        "no snapshot": ([f"--out={out}"], "--snapshot"),
        "unwritable out": ([f"--snapshot={good}", f"--out={a_file / 'policy.onnx'}"], "a_file"),
        "out is the snapshot": ([f"--snapshot={good}", f"--out={good}"], "snapshot itself"),
    }
    before = sorted(os.listdir(tmp_path))
    good_bytes = open(good, "rb").read()
    for name, (args, mentions) in cases.items():
        result = sacctl("export", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0, name
        assert len(lines) == 1 and lines[0].startswith("sacctl"), (name, result.stderr)
        assert mentions in lines[0], (name, lines[0])
        assert result.stdout == "", (name, result.stdout)
        assert out.read_bytes() == b"an earlier file", name
        assert sorted(os.listdir(tmp_path)) == before, name  # no new or temporary file
    assert open(good, "rb").read() == good_bytes
