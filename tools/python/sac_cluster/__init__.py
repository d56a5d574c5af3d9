"""Python helpers of sac-cluster (policy snapshots, ...)."""
