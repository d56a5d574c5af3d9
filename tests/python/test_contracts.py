"""The Python side of the contracts: stubs generated from proto/ by the build,
with the venv's protobuf runtime, read what C++ writes and vice versa."""
import numpy as np

from sac.v1 import policy_pb2, replay_pb2_grpc, tensor_pb2, transition_pb2


def test_tensor_bytes_are_little_endian_float32():
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = tensor_pb2.Tensor(shape=values.shape, data=values.astype("<f4").tobytes())
    back = np.frombuffer(t.data, dtype="<f4").reshape(tuple(t.shape))
    np.testing.assert_array_equal(back, values)


def test_transition_batch_round_trip():
    b = transition_pb2.TransitionBatch(terminated=b"\x00\x01", truncated=b"\x01\x00",
                                       policy_version=[3, 4], actor_id=[7, 7])
    b.reward.shape.append(2)
    b.reward.data = np.array([1.5, -2.0], dtype="<f4").tobytes()
    parsed = transition_pb2.TransitionBatch.FromString(b.SerializeToString())
    assert list(parsed.policy_version) == [3, 4]
    assert parsed.terminated == b"\x00\x01"


def test_services_have_stubs():
    assert hasattr(replay_pb2_grpc, "ReplayServiceStub")
    assert policy_pb2.DESCRIPTOR.services_by_name["PolicyService"].methods_by_name["WatchPolicy"]
