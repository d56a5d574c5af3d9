"""Pull policies from a running sac-learner over gRPC.

Installed with `pip install ./python` (the package carries the stubs of
proto/), or from a checkout with the C++ build's stubs:
`PYTHONPATH=build/python:python`.

    sac-cluster-pull 127.0.0.1:50051 --out policy.safetensors
    python -m sac_cluster.client 127.0.0.1:50051 --out policy.safetensors

    from sac_cluster import load_policy, pull_snapshot
    path, metadata = pull_snapshot("127.0.0.1:50051")       # newest snapshot
    policy, meta = load_policy(path)
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from sac.v1 import policy_pb2, policy_pb2_grpc


def _stub(address, token=None):
    channel = grpc.insecure_channel(address, options=[
        ("grpc.max_receive_message_length", 256 << 20)])
    metadata = [("authorization", f"Bearer {token}")] if token else None
    return policy_pb2_grpc.PolicyServiceStub(channel), metadata


def pull_snapshot(address, version=0, out=None, token=None, timeout=60.0):
    """Downloads a snapshot (version 0: the newest) to `out` (default
    policy-<version>.safetensors); returns (path, PolicyMetadata)."""
    stub, metadata = _stub(address, token)
    snapshot = stub.GetSnapshot(policy_pb2.GetSnapshotRequest(version=version),
                                timeout=timeout, metadata=metadata)
    path = out or f"policy-{snapshot.info.version}.safetensors"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(snapshot.safetensors)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path, snapshot.metadata


def latest_policy(address, token=None, timeout=30.0):
    """The newest published policy (weights and metadata), as a sac.v1.Policy."""
    stub, metadata = _stub(address, token)
    return stub.GetLatestPolicy(policy_pb2.GetLatestPolicyRequest(), timeout=timeout,
                                metadata=metadata)


def list_snapshots(address, token=None, timeout=30.0):
    stub, metadata = _stub(address, token)
    return list(stub.ListSnapshots(policy_pb2.ListSnapshotsRequest(), timeout=timeout,
                                   metadata=metadata).snapshots)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Pull a policy snapshot from a sac-learner.")
    parser.add_argument("learner", help="host:port of the learner")
    parser.add_argument("--version", type=int, default=0, help="0: the newest")
    parser.add_argument("--out", default=None)
    parser.add_argument("--token_file", default=None)
    args = parser.parse_args(argv)
    token = open(args.token_file).read().strip() if args.token_file else None
    try:
        path, meta = pull_snapshot(args.learner, args.version, args.out, token)
    except grpc.RpcError as e:
        print(f"sac_cluster.client: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    print(f"wrote {path}: task {meta.task}, variant {meta.variant}, version {meta.version}, "
          f"env steps {meta.env_steps}, updates {meta.updates}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
