#!/usr/bin/env python3
"""Scaling actors in the compose cluster (docs/deploy.md, "Scaling actors").

For each rate-limiter ratio (replay's rate_limiter.samples_per_insert, set on both
shards' command lines through a compose override) the cluster of docker-compose.yml
(2 shards, the learner, Prometheus) runs with 1, 2, 4 ... actors; after the
learner has started updating and a warm-up, one window per actor count measures,
from Prometheus, the summed env steps/s of the actors and the learner's
updates/s. The reference, measured in the same run on the same machine: the
learner alone (bench/learner_throughput, v1 as in deploy/config, batch 256, the learner config's 2
threads, or --learner_threads), i.e. the updates/s the cluster's learner could
reach with nothing else on the cores.

Images: sac-cluster:TAG and sac-cluster-learner:TAG must exist (make test-compose
builds them with TAG compose-test; `SAC_TAG=TAG docker-compose build` does too).
Usage: compose_scaling.py [--tag=compose-test] [--actors=1,2,4] [--ratios=256,32,4]
                          [--window=60] [--warmup=20] [--learner_bench=build/bin/learner_throughput]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, "tests", "compose"))
from cluster import Cluster, Dockerd, run, wait_for  # noqa: E402


def log(msg):
    print("compose_scaling: " + msg, flush=True)


def override_file(ratio, learner_threads):
    """The shards' command lines with the ratio (and the learner's with its thread
    count, when given); everything else from docker-compose.yml."""
    f = tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False)
    f.write('version: "3.8"\nservices:\n')
    for i in (0, 1):
        f.write('  replay-%d:\n    command: ["sac-replay", "--config=/etc/sac/replay.txtpb", '
                '"--shard_index=%d", "--rate_limiter.samples_per_insert=%s"]\n' % (i, i, ratio))
    if learner_threads:
        f.write('  learner:\n    command: ["sac-learner", "--config=/etc/sac/learner.txtpb", '
                '"--replay_addresses=replay-0:50061,replay-1:50061", "--threads=%d"]\n' % learner_threads)
    f.close()
    return f.name


def counters(c):
    return (c.scalar("sum(sac_actor_env_steps_total)") or 0.0,
            c.scalar("sum(sac_learner_updates_total)") or 0.0,
            c.scalar("count(sac_actor_env_steps_total)") or 0)


def learner_alone(binary, threads):
    if not os.path.exists(binary):
        log("no %s: the learner-alone reference is left out (make build)" % binary)
        return None
    out = run([binary, "--seconds=5", "--variants=v1", "--threads=%d" % threads, "--no_python",
               "--no_sb3", "--no_ablations"], timeout=600)
    # A row per variant and thread count: variant, threads, ours/s, ...
    for line in out.splitlines():
        m = re.match(r"v1\s+%d\s+([0-9.]+)\s" % threads, line)
        if m:
            return float(m.group(1)), re.sub(r"\s+", " ", line.strip())
    log("learner_throughput printed no v1 %d-thread figure:\n%s" % (threads, out))
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tag", default="compose-test")
    p.add_argument("--actors", default="1,2,4")
    p.add_argument("--ratios", default="256,32,4")
    p.add_argument("--window", type=float, default=60)
    p.add_argument("--warmup", type=float, default=20)
    p.add_argument("--learner_threads", type=int, default=0,
                   help="the learner's --threads (0: deploy/config/learner.txtpb's)")
    p.add_argument("--learner_bench", default=os.path.join(SRC, "build", "bin", "learner_throughput"))
    a = p.parse_args()
    actors = [int(x) for x in a.actors.split(",")]
    ratios = a.ratios.split(",")
    cpu = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
    log("%s, %d cores, %s, load average %s" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(), cpu.group(1) if cpu else "?",
        " ".join(open("/proc/loadavg").read().split()[:3])))
    threads = a.learner_threads or int(re.search(r"^threads: (\d+)", open(
        os.path.join(SRC, "deploy", "config", "learner.txtpb")).read(), re.M).group(1))
    ref = learner_alone(a.learner_bench, threads)
    if ref:
        log("reference, the learner alone (bench/learner_throughput): %.1f updates/s  [%s]" % ref)
    dockerd = Dockerd(log)
    rows = []
    try:
        for ratio in ratios:
            override = override_file(ratio, a.learner_threads)
            c = Cluster(SRC, "sacbench%d" % os.getpid(), a.tag, override)
            services = ["replay-0", "replay-1", "learner", "actor", "prometheus"]
            try:
                c.compose("up", "-d", "--no-build", "--scale", "actor=%d" % actors[0], *services)
                c.wait_healthy({"replay-0": 1, "replay-1": 1, "learner": 1, "actor": actors[0],
                                "prometheus": 1}, 300)
                wait_for("the learner's first updates", 600,
                         lambda: (c.scalar("sac_learner_updates_total") or 0) > 0, every=2)
                for n in actors:
                    c.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "actor=%d" % n, "actor")
                    c.wait_healthy({"actor": n}, 300)
                    wait_for("%d actors scraped" % n, 120, lambda: counters(c)[2] == n, every=2)
                    time.sleep(a.warmup)  # a bench: the window is timed by nature
                    s0, u0, _ = counters(c)
                    t0 = time.monotonic()
                    time.sleep(a.window)
                    s1, u1, k = counters(c)
                    dt = time.monotonic() - t0
                    if k != n:
                        log("ratio %s, %d actors: %d actors scraped at the end of the window" % (ratio, n, k))
                    steps, updates = (s1 - s0) / dt, (u1 - u0) / dt
                    rows.append((ratio, n, steps, updates))
                    log("samples_per_insert %s, %d actor(s): %.0f env steps/s, %.1f updates/s, "
                        "%.2f env steps per update%s" % (
                            ratio, n, steps, updates, steps / updates if updates else float("nan"),
                            ", learner at %.2fx of alone" % (updates / ref[0]) if ref else ""))
            finally:
                c.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
                os.unlink(override)
    finally:
        dockerd.stop()
    print("\n| samples_per_insert | actors | env steps/s | learner updates/s | env steps per update |")
    print("|---|---|---|---|---|")
    for ratio, n, steps, updates in rows:
        print("| %s | %d | %.0f | %.1f | %.2f |" % (ratio, n, steps, updates,
                                                    steps / updates if updates else float("nan")))
    if ref:
        print("\nreference: the learner alone, %.1f updates/s (%d threads, same run)" % (ref[0], threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
