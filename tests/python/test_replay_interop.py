"""sac-replay from Python: a shard started from the build, fed and sampled
through stubs generated from proto/ (what a Python actor or learner would do)."""
import os
import subprocess
import time

import grpc
import numpy as np
import pytest

from sac.v1 import replay_pb2, replay_pb2_grpc, tensor_pb2, transition_pb2

OBS, ACT = 11, 3  # Hopper-v5


def _binary():
    return os.path.join(os.environ.get("SAC_BINARY_DIR", "build"), "bin", "sac-replay")


@pytest.fixture()
def shard(tmp_path):
    if not os.path.exists(_binary()):
        pytest.skip("sac-replay not built")
    d = str(tmp_path)  # pytest keeps the last three runs' folders, no more
    ports = os.path.join(d, "ports")
    proc = subprocess.Popen(
        [_binary(), "--task=Hopper-v5", "--capacity=1000", "--rate_limiter.min_size_to_sample=1",
         "--rate_limiter.samples_per_insert=0", f"--durability.data_dir={d}/data",
         f"--server.port_file={ports}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while not os.path.exists(ports):
        assert proc.poll() is None, "sac-replay exited"
        assert time.time() < deadline, "no port file"
        time.sleep(0.05)
    port = int(open(ports).read().split()[0].split("=")[1])
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield replay_pb2_grpc.ReplayServiceStub(channel)
    channel.close()
    proc.terminate()
    assert proc.wait(timeout=60) == 0


def _tensor(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return tensor_pb2.Tensor(shape=a.shape, data=a.tobytes())


def _batch(ids):
    ids = np.asarray(ids)
    n = len(ids)
    obs = ids[:, None] + np.arange(OBS)[None, :] * 0.5
    return transition_pb2.TransitionBatch(
        obs=_tensor(obs), action=_tensor(np.tanh(obs[:, :ACT])), reward=_tensor(ids * 0.25),
        next_obs=_tensor(obs + 1), terminated=bytes((ids % 3 == 0).astype(np.uint8)),
        truncated=bytes((ids % 5 == 0).astype(np.uint8)), policy_version=ids.tolist(),
        actor_id=[7] * n)


def test_insert_then_sample_round_trips_values(shard):
    requests = [replay_pb2.InsertRequest(sequence=s + 1, batch=_batch(np.arange(10) + 10 * s))
                for s in range(3)]
    acks = list(shard.Insert(iter(requests), timeout=10))
    assert [a.sequence for a in acks] == [1, 2, 3]
    assert [a.first_key for a in acks] == [0, 10, 20]
    assert shard.GetStatus(replay_pb2.ReplayStatusRequest(), timeout=10).size == 30

    out = shard.Sample(replay_pb2.SampleRequest(batch_size=64), timeout=10)
    b = out.batch
    obs = np.frombuffer(b.obs.data, "<f4").reshape(tuple(b.obs.shape))
    next_obs = np.frombuffer(b.next_obs.data, "<f4").reshape(tuple(b.next_obs.shape))
    reward = np.frombuffer(b.reward.data, "<f4")
    ids = np.array(b.policy_version)
    assert obs.shape == (64, OBS)
    np.testing.assert_array_equal(obs[:, 0], ids.astype(np.float32))
    np.testing.assert_array_equal(next_obs, obs + 1)
    np.testing.assert_array_equal(reward, (ids * 0.25).astype(np.float32))
    assert list(np.frombuffer(b.terminated, np.uint8)) == list((ids % 3 == 0).astype(np.uint8))
    assert list(out.key) == list(ids)  # keys were given in insert order
    np.testing.assert_allclose(np.frombuffer(out.probability.data, "<f4"), 1 / 30, rtol=1e-6)


def test_bad_batch_is_refused_naming_the_field(shard):
    bad = _batch(np.arange(4))
    bad.terminated = b"\x00\x02\x00\x00"
    with pytest.raises(grpc.RpcError) as e:
        list(shard.Insert(iter([replay_pb2.InsertRequest(sequence=1, batch=bad)]), timeout=10))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch.terminated" in e.value.details()
    assert shard.GetStatus(replay_pb2.ReplayStatusRequest(), timeout=10).size == 0
