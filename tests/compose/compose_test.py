#!/usr/bin/env python3
"""The compose cluster, tested the way a user runs it (docs/deploy.md, "Checks").

make test-compose runs this after building the host's sacctl. Steps, each named
in the line that reports it and in the failure line when it breaks:

  daemon  a Docker engine answers; started here (dockerd in the background,
          stopped at the end) when none does
  bases   base images present, pulled, or built as local stand-ins
          (deploy/local-base-images.sh says which, one line each)
  build   `docker-compose build` from a clean checkout (tracked and
          untracked-but-not-ignored files copied to a temporary folder; the
          host's extra CA certificates go into its deploy/build-ca/ only),
          with the build stage tagged and the superseded images of earlier
          builds pruned before and after (only images labelled by
          deploy/Dockerfile), so repeated runs do not fill the disk
  images  the actor/replay/sacctl image holds no LibTorch or CUDA library and
          no sac-learner, and is at most 300 MB; neither image holds the build
          host's CA certificates or pip settings
  up      2 shards, the learner, 2 actors and Prometheus healthy
  scale   4 actors healthy; Prometheus (its HTTP API) has every target up, 4
          actors among them, and reports the summed actor env-step rate
  pull    `sacctl pull` from the host, then `sacctl eval` of the pulled file
  stop    after 50 learner updates, `stop`: the learner logs its checkpoint and
          each shard its snapshot
  start   `start`: the learner resumes from that checkpoint at its update count,
          each shard recovers the rows of its snapshot, all healthy again
  down    `down -v` leaves no container, volume or network of the project

Usage: compose_test.py SOURCE_DIR SACCTL   (as root: dockerd, debootstrap)
"""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import (Cluster, Dockerd, Failed, clean_checkout, docker_free_space,  # noqa: E402
                     prune_superseded_images, run, wait_for)

SRC = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else ""
SACCTL = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else ""
TAG = "compose-test"
MAX_RUNTIME_IMAGE_MB = 300
CORE = {"replay-0": 1, "replay-1": 1, "learner": 1, "actor": 2, "prometheus": 1}


def log(msg):
    print("compose-test: " + msg, flush=True)


class Test:
    def __init__(self):
        self.dockerd = None
        self.cluster = None
        self.up = False
        self.memo = {}

    def daemon(self):
        self.dockerd = Dockerd(log)

    def bases(self):
        out = run(["bash", os.path.join(SRC, "deploy", "local-base-images.sh")], timeout=900)
        for line in out.splitlines():
            if line.startswith("local-base-images:"):
                print(line, flush=True)

    def build(self):
        work = clean_checkout(SRC, log)
        self.cluster = Cluster(work, "sacct%d" % os.getpid(), TAG)
        # Superseded images first: on a machine that builds every commit they
        # are what fills the disk (each build's layers were about 8 GB before
        # the libraries moved below the sources in deploy/Dockerfile).
        log("before the build: " + prune_superseded_images())
        log(docker_free_space())
        t0 = time.monotonic()
        self.cluster.build(timeout=3600)
        log("docker-compose build: %.0f s" % (time.monotonic() - t0))
        log("after the build, the previous build's images: " + prune_superseded_images())
        log(docker_free_space())

    def images(self):
        runtime, learner = "sac-cluster:" + TAG, "sac-cluster-learner:" + TAG
        libs = run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", runtime, "-c",
                    "ls /opt/sac/bin; for b in /opt/sac/bin/sac*; do ldd $b; done; "
                    "find / -xdev -name '*.so*'"])
        heavy = sorted({l.strip() for l in libs.splitlines()
                        if re.search(r"libtorch|libc10|libcuda|libcudnn|libcublas|libnccl|/nvidia/", l)})
        if heavy:
            raise Failed("the runtime image carries LibTorch/CUDA libraries: %s" % ", ".join(heavy[:5]))
        if re.search(r"^sac-learner$", libs, re.M):
            raise Failed("the runtime image has sac-learner")
        for image in (runtime, learner):
            leaked = run(["docker", "run", "--rm", "--user", "0", "--entrypoint", "sh", image, "-c",
                          "find /usr/local/share/ca-certificates /etc/pip.conf -type f 2>/dev/null; true"]).split()
            if leaked:
                raise Failed("%s carries the build host's CA or pip settings: %s" % (image, leaked))
        size = lambda image: int(run(["docker", "image", "inspect", "-f", "{{.Size}}", image])) / 1e6
        mb = size(runtime)
        log("image sizes: sac-cluster (actor, replay, sacctl) %.0f MB, sac-cluster-learner %.0f MB"
            % (mb, size(learner)))
        if mb > MAX_RUNTIME_IMAGE_MB:
            raise Failed("sac-cluster is %.0f MB, more than %d MB" % (mb, MAX_RUNTIME_IMAGE_MB))

    def start_cluster(self):
        self.up = True
        self.cluster.compose("up", "-d", "--no-build", "--scale", "actor=2", *CORE)
        self.cluster.wait_healthy(CORE, 300)

    def scale(self):
        c = self.cluster
        c.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "actor=4", "actor")
        c.wait_healthy({"actor": 4}, 300)
        jobs = {}

        def targets_up():
            jobs.clear()
            for t in c.prom("/api/v1/targets")["activeTargets"]:
                jobs.setdefault(t["labels"]["job"], []).append(t["health"])
            counts = {"sac-actor": 4, "sac-replay": 2, "sac-learner": 1, "prometheus": 1}
            return (all(len(jobs.get(j, [])) == n for j, n in counts.items()) and
                    all(h == "up" for hs in jobs.values() for h in hs))
        try:
            wait_for("every Prometheus target up, 4 actors among them", 120, targets_up, every=2)
        except Failed as e:
            raise Failed("%s; target health by job: %s" % (e, jobs))

        def summed_rate():
            per = c.query("rate(sac_actor_env_steps_total[30s])")
            total = c.scalar("sum(rate(sac_actor_env_steps_total[30s]))")
            return total if len(per) == 4 and all(v > 0 for _, v in per) and total else None
        total = wait_for("an env-step rate from each of the 4 actors, and their sum", 120,
                         summed_rate, every=2)
        log("Prometheus: every target up, 4 actors; sum(rate(sac_actor_env_steps_total[30s])) = "
            "%.1f steps/s" % total)

    def pull(self):
        c = self.cluster
        out_file = os.path.join(c.workdir, "pulled.safetensors")
        pull = [SACCTL, "pull", "--learner=" + c.learner, "--out=" + out_file]

        def pulled():
            r = subprocess.run(pull, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            return r.stdout if r.returncode == 0 else None
        # The learner publishes its first version once the shards hold min_size rows.
        out = wait_for("a policy published at " + c.learner, 300, pulled, every=3)
        log("sacctl pull: " + " | ".join(out.strip().splitlines()))
        out = run([SACCTL, "eval", "--snapshot=" + out_file, "--episodes=2"], timeout=600)
        if not re.search(r"eval \S+: 2 episodes, return mean -?[0-9.]+", out):
            raise Failed("sacctl eval printed no return:\n" + out)
        log("sacctl eval: " + out.strip().splitlines()[-1])

    def stop(self):
        c = self.cluster
        wait_for("50 learner updates", 300,
                 lambda: (c.scalar("sac_learner_updates_total") or 0) >= 50, every=2)
        c.compose("stop", timeout=300)
        text = c.log("learner")
        ckpts = re.findall(r"\] checkpoint (\S+/ckpt-(\d+)\.ckpt)", text)
        if not ckpts:
            raise Failed("the learner logged no checkpoint on stop:\n" + text[-3000:])
        self.memo["checkpoint"] = (ckpts[-1][0], int(ckpts[-1][1]))
        self.memo["learner_log"] = len(text)
        snapshots = {}
        for shard in ("replay-0", "replay-1"):
            text = c.log(shard)
            rows = re.findall(r"\] snapshot \S+: (\d+) rows", text)
            if not rows:
                raise Failed("%s logged no snapshot on stop:\n%s" % (shard, text[-3000:]))
            if int(rows[-1]) == 0:
                raise Failed("%s's snapshot on stop holds no rows" % shard)
            snapshots[shard] = (int(rows[-1]), len(text))
        self.memo["snapshots"] = snapshots
        log("stop: learner checkpoint %s (%d updates); snapshots %s" % (
            self.memo["checkpoint"] + (", ".join("%s %d rows" % (s, n) for s, (n, _) in
                                                  sorted(snapshots.items())),)))

    def start(self):
        c = self.cluster
        c.compose("start", timeout=300)
        want = self.memo["checkpoint"]

        def resumed():
            m = re.search(r"resumed from (\S+): (\d+) updates", c.log("learner")[self.memo["learner_log"]:])
            return m and (m.group(1), int(m.group(2)))
        got = wait_for("the learner's 'resumed from' line", 180, resumed)
        if got != want:
            raise Failed("the learner resumed from %s at %d updates, expected %s at %d" % (got + want))
        recovered = {}
        for shard, (rows, offset) in self.memo["snapshots"].items():
            def rec(shard=shard, offset=offset):
                m = re.search(r"\] recovered (\d+) rows", c.log(shard)[offset:])
                return m and (int(m.group(1)),)
            recovered[shard] = wait_for("%s's 'recovered' line" % shard, 180, rec)[0]
            if recovered[shard] != rows:
                raise Failed("%s recovered %d rows; its snapshot on stop held %d"
                             % (shard, recovered[shard], rows))
        c.wait_healthy(dict(CORE, actor=4), 300)
        log("start: learner resumed at %d updates; shards recovered %s" % (
            want[1], ", ".join("%s %d rows" % kv for kv in sorted(recovered.items()))))

    def down(self):
        self.cluster.compose("down", "-v", "--remove-orphans", timeout=300)
        self.up = False
        left = self.cluster.leftovers()
        if left:
            raise Failed("down -v left behind %s" % left)

    def cleanup(self):
        if self.up:
            self.cluster.compose("down", "-v", "--remove-orphans", check=False, timeout=300)
        if self.cluster:
            shutil.rmtree(self.cluster.workdir, ignore_errors=True)
        if self.dockerd and self.dockerd.stop():
            log("stopped the dockerd this test started")

    def dump_logs(self):
        for svc in CORE:
            print("---- %s (last lines)" % svc)
            print("\n".join(self.cluster.compose("logs", "--no-color", "--tail", "30", svc,
                                                 check=False).splitlines()[-30:]))


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("compose-test: run as root (it starts dockerd and runs debootstrap)", file=sys.stderr)
        return 2
    t = Test()
    steps = [("daemon", t.daemon), ("bases", t.bases), ("build", t.build), ("images", t.images),
             ("up", t.start_cluster), ("scale", t.scale), ("pull", t.pull), ("stop", t.stop),
             ("start", t.start), ("down", t.down)]
    passed, failed = 0, None
    t0 = time.monotonic()
    try:
        for name, fn in steps:
            s0 = time.monotonic()
            try:
                fn()
            except (Failed, subprocess.TimeoutExpired) as e:
                failed = name
                log("FAILED at step '%s': %s" % (name, e))
                if t.up:
                    t.dump_logs()
                break
            passed += 1
            log("ok %-6s (%.0f s)" % (name, time.monotonic() - s0))
    finally:
        t.cleanup()
    log("%.0f s in all" % (time.monotonic() - t0))
    log("%d passed, %d failed" % (passed, 0 if failed is None else 1))
    return 0 if failed is None else 1


if __name__ == "__main__":
    sys.exit(main())
