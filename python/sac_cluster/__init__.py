"""Python side of sac-cluster: pull policy snapshots from a running learner,
rebuild them as torch modules, score them in Gymnasium.

    from sac_cluster import load_policy, pull_snapshot, evaluate
    path, meta = pull_snapshot("127.0.0.1:50051")   # sac_cluster.client
    policy, meta = load_policy(path)               # sac_cluster.policy
    mean, std, returns = evaluate(path)            # sac_cluster.evaluate

The names are resolved on first use, so that `import sac_cluster` (and the
pull client) does not import torch or Gymnasium.
"""

import importlib

_EXPORTS = {
    "load_policy": "sac_cluster.policy",
    "SacPolicy": "sac_cluster.policy",
    "pull_snapshot": "sac_cluster.client",
    "latest_policy": "sac_cluster.client",
    "list_snapshots": "sac_cluster.client",
    "evaluate": "sac_cluster.evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sac_cluster' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)
