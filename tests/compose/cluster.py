"""A docker compose cluster of docker-compose.yml, driven the way a user drives it
(docker-compose commands, the published ports, Prometheus' HTTP API). Used by
tests/compose/compose_test.py and bench/compose_scaling/compose_scaling.py.
Every wait polls a condition with a deadline."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


class Failed(Exception):
    """A step's condition does not hold; the message says what was seen."""


def run(cmd, check=True, timeout=1800, env=None):
    r = subprocess.run(cmd, env=env, timeout=timeout, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if check and r.returncode != 0:
        tail = "\n".join(r.stdout.splitlines()[-30:])
        raise Failed("`%s` exited %d:\n%s" % (" ".join(cmd), r.returncode, tail))
    return r.stdout


def wait_for(what, deadline_s, probe, every=1.0):
    """Polls probe() until it returns a true value and returns that value; raises
    Failed naming `what` (and the probe's last error) at the deadline."""
    end = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            v = probe()
            if v:
                return v
        except Failed:
            raise
        except Exception as e:  # the probed thing may not answer yet
            last = e
        if time.monotonic() > end:
            raise Failed("timed out after %.0f s waiting for %s%s" % (
                deadline_s, what, " (last error: %s)" % last if last else ""))
        time.sleep(every)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker_answers():
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


# The label every stage of deploy/Dockerfile carries (its value: build or runtime,
# the stage it was set in; the learner image inherits runtime).
STAGE_LABEL = "org.sac-cluster.stage"


def docker_free_space():
    """A line on Docker's free disk, for the log: "<root> has N GB free", or why
    it is unknown (an engine on another machine: its root is not here)."""
    root = run(["docker", "info", "-f", "{{.DockerRootDir}}"], check=False).strip()
    try:
        return "%s has %.1f GB free" % (root, shutil.disk_usage(root).free / 1e9)
    except OSError as e:
        return "free space of Docker's root %r unknown here (%s)" % (root, e)


def prune_superseded_images():
    """Removes this project's images that no tag holds any more (earlier builds'
    layers, a failed build's steps) and returns Docker's one-line account.
    Tagged images and their layers, the build cache of the next build, stay;
    other projects' images are not touched (label filter)."""
    out = run(["docker", "image", "prune", "-f", "--filter", "label=" + STAGE_LABEL])
    deleted = len(re.findall(r"^deleted: ", out, re.M))
    m = re.search(r"Total reclaimed space: (\S+)", out)
    return "%d layer(s) deleted, %s reclaimed" % (deleted, m.group(1) if m else "0B")


class Dockerd:
    """Starts dockerd in the background when no Docker engine answers; stop() ends
    only a daemon started here."""

    def __init__(self, log):
        self.proc = None
        if docker_answers():
            log("a Docker engine answers already; it is left running")
            return
        if not shutil.which("dockerd"):
            raise Failed("no Docker engine answers and dockerd is not installed "
                         "(deploy/install-deps.sh --containers)")
        path = os.path.join(tempfile.gettempdir(), "sac-dockerd.log")
        with open(path, "w") as f:
            self.proc = subprocess.Popen(["dockerd"], stdout=f, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        log("started dockerd (pid %d, log %s)" % (self.proc.pid, path))
        wait_for("dockerd to answer", 60, lambda: self.proc.poll() is None and docker_answers())

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return True


def clean_checkout(src, log):
    """Copies the tracked and untracked-but-not-ignored files of src to a new
    temporary folder (no build trees, no venv), and the host's extra CA
    certificates and pip settings into its deploy/build-ca/ (the image's build
    stage only reads them there: deploy/build-ca/README.md). Returns the folder."""
    work = tempfile.mkdtemp(prefix="sac-compose-")
    files = [f for f in run(["git", "-C", src, "ls-files", "-co", "--exclude-standard", "-z"]).split("\0") if f]
    for f in files:
        path = os.path.join(src, f)
        if os.path.isfile(path) and not os.path.islink(path):
            os.makedirs(os.path.dirname(os.path.join(work, f)), exist_ok=True)
            shutil.copy2(path, os.path.join(work, f))
    ca_dir = "/usr/local/share/ca-certificates"
    cas = sorted(c for c in (os.listdir(ca_dir) if os.path.isdir(ca_dir) else []) if c.endswith(".crt"))
    for c in cas:
        shutil.copy(os.path.join(ca_dir, c), os.path.join(work, "deploy", "build-ca", c))
    if cas and os.path.isfile("/etc/pip.conf"):
        shutil.copy("/etc/pip.conf", os.path.join(work, "deploy", "build-ca", "pip.conf"))
    log("clean checkout in %s (%d files), %d extra CA certificate(s) for the build stage"
        % (work, len(files), len(cas)))
    return work


class Cluster:
    """docker-compose with the checkout's docker-compose.yml, under its own project
    name and image tag, with the published ports on free loopback ports."""

    def __init__(self, workdir, project, tag, override=None):
        self.workdir = workdir
        self.project = project
        self.tag = tag
        self.files = [os.path.join(workdir, "docker-compose.yml")] + ([override] if override else [])
        self.ports = {k: str(free_port()) for k in
                      ("SAC_LEARNER_PORT", "SAC_PROMETHEUS_PORT", "SAC_GRAFANA_PORT")}
        self.learner = "127.0.0.1:" + self.ports["SAC_LEARNER_PORT"]

    def env(self):
        env = dict(os.environ)
        env.update(self.ports)
        env["SAC_TAG"] = self.tag
        # Every build here uses the legacy builder (compose 1.29's own default;
        # `docker` 23+ would pick BuildKit where buildx is installed), so that
        # build() and compose share one cache, which the prune reaches.
        env["DOCKER_BUILDKIT"] = "0"
        return env

    def compose(self, *args, check=True, timeout=1800):
        cmd = ["docker-compose", "-p", self.project]
        for f in self.files:
            cmd += ["-f", f]
        return run(cmd + list(args), check=check, timeout=timeout, env=self.env())

    def build(self, timeout):
        """Builds the images as `docker-compose build` does, with two additions
        for a machine that builds again and again (CI): the build stage is
        tagged sac-cluster-build:<tag> first (the legacy builder, as every
        build here: env()), so that pruning superseded images keeps this
        build's cache, the venv layer above all; and --force-rm, so a failed
        step leaves no container behind."""
        run(["docker", "build", "-f", os.path.join(self.workdir, "deploy", "Dockerfile"),
             "--target", "build", "-t", "sac-cluster-build:" + self.tag, self.workdir],
            timeout=timeout, env=self.env())
        self.compose("build", "--force-rm", timeout=timeout)

    def containers(self, service):
        return self.compose("ps", "-q", service).split()

    def log(self, service):
        return self.compose("logs", "--no-color", service)

    def wait_healthy(self, counts, deadline_s):
        """counts: {service: replicas}. Fails at once on an unhealthy or exited container."""
        not_yet = []

        def probe():
            not_yet.clear()
            for svc, n in counts.items():
                ids = self.containers(svc)
                if len(ids) != n:
                    not_yet.append("%s: %d of %d containers" % (svc, len(ids), n))
                    continue
                for cid in ids:
                    h = run(["docker", "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
                             "{{else}}{{.State.Status}}{{end}}", cid]).strip()
                    if h in ("unhealthy", "exited", "dead"):
                        raise Failed("%s container %s is %s; its log:\n%s" % (
                            svc, cid[:12], h, run(["docker", "logs", "--tail", "40", cid], check=False)))
                    if h != "healthy":
                        not_yet.append("%s %s: %s" % (svc, cid[:12], h))
            return not not_yet
        try:
            wait_for("health", deadline_s, probe, every=2)
        except Failed as e:
            raise Failed("%s; not healthy: %s" % (e, ", ".join(not_yet)))

    def prom(self, path, **params):
        url = "http://127.0.0.1:%s%s" % (self.ports["SAC_PROMETHEUS_PORT"], path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError("%s: %s" % (url, body))
        return body["data"]

    def query(self, expr):
        """An instant query: [(labels, value)]."""
        return [(r["metric"], float(r["value"][1]))
                for r in self.prom("/api/v1/query", query=expr)["result"]]

    def scalar(self, expr):
        """An instant query with one series, or None while it has none."""
        r = self.query(expr)
        return r[0][1] if r else None

    def leftovers(self):
        label = "label=com.docker.compose.project=" + self.project
        found = {}
        for kind, cmd in (("containers", ["docker", "ps", "-aq", "--filter", label]),
                          ("volumes", ["docker", "volume", "ls", "-q", "--filter", label]),
                          ("networks", ["docker", "network", "ls", "-q", "--filter", label])):
            ids = run(cmd, check=False).split()
            if ids:
                found[kind] = ids
        return found
