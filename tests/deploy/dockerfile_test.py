"""deploy/Dockerfile parses with the official BuildKit parser (the `dockerfile`
wheel wraps it) and keeps its promises: no `# syntax=` line (the legacy builder
and BuildKit build it without fetching a frontend image); a `build` stage on
debian:bookworm that runs deploy/install-deps.sh --image-build and stages the
libraries before it copies any source; `runtime` and `learner` stages on one
shared stage from debian:bookworm-slim that runs install-deps.sh --runtime-only,
with a non-root USER, a HEALTHCHECK on /healthz at the metrics port of
deploy/config and the entrypoint script as ENTRYPOINT; `learner` last (the
default target), its LibTorch libraries copied before any binary; every stage
labelled org.sac-cluster.stage (what make test-compose prunes by); every COPY
source present in the build context and
not excluded by .dockerignore; docker-compose.yml builds the learner service
from the `learner` target and every other sac service from `runtime`. The images
are built and run for real by make test-compose (tests/compose).

Usage: PYTHON dockerfile_test.py SOURCE_DIR (Python of tests/deploy/install-tools.sh)
"""
import fnmatch
import glob
import os
import re
import sys

import dockerfile
import yaml

SRC = sys.argv[1]
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def ignored(path, patterns):
    """Docker's .dockerignore semantics, enough for our file: a pattern matches the
    path or one of its parent folders; a leading '/' is the context root."""
    parts = path.split("/")
    for pat in patterns:
        pat = pat.lstrip("/")
        if pat.startswith("**/"):
            if any(fnmatch.fnmatch(p, pat[3:]) for p in parts):
                return True
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pat):
                return True
    return False


def main():
    path = os.path.join(SRC, "deploy", "Dockerfile")
    with open(path) as f:
        for line in f:
            if re.match(r"#\s*syntax\s*=", line, re.I):
                fail("a `# syntax=` directive makes BuildKit fetch a frontend image: %s" % line.strip())
            if not line.startswith("#"):
                break
    cmds = dockerfile.parse_file(path)
    with open(os.path.join(SRC, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    args = {}
    stages = []  # [(name, base image, [commands])]
    for c in cmds:
        if c.cmd == "ARG" and not stages:
            k, _, v = c.value[0].partition("=")
            args[k] = v
        elif c.cmd == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), c.value[0])
            name = c.value[2] if len(c.value) == 3 and c.value[1].upper() == "AS" else ""
            stages.append((name, base, []))
        elif stages:
            stages[-1][2].append(c)
    by_name = {n: (b, cs) for n, b, cs in stages}
    missing = [w for w in ("build", "runtime", "learner") if w not in by_name]
    if missing:
        fail("no stage named %s (stages: %s)" % (missing, [n for n, _, _ in stages]))
        return 1
    def chain(name):
        """The stage's commands with those of the stages it is FROM, oldest
        first, and the image at the root of the chain."""
        base, cmds = by_name[name]
        if base in by_name:
            root, parent = chain(base)
            return root, parent + cmds
        return base, list(cmds)

    build_base, build = by_name["build"]
    runtime_root, runtime = chain("runtime")
    learner_root, learner = chain("learner")
    if build_base != "debian:bookworm":
        fail("build stage is FROM %r, expected debian:bookworm" % build_base)
    for name, root in (("runtime", runtime_root), ("learner", learner_root)):
        if root != "debian:bookworm-slim":
            fail("the %s stage is built on %r, expected debian:bookworm-slim" % (name, root))
    shared = by_name["runtime"][0]
    if shared not in by_name or by_name["learner"][0] != shared:
        fail("runtime (FROM %r) and learner (FROM %r) are not on one shared stage"
             % (shared, by_name["learner"][0]))
    if stages[-1][0] != "learner":
        fail("the last stage (the default target) is %r, expected learner" % stages[-1][0])
    runs = lambda stage: " ".join(" ".join(c.value) for c in stage if c.cmd == "RUN")
    if "install-deps.sh --image-build" not in runs(build):
        fail("the build stage does not run deploy/install-deps.sh --image-build")
    for name, cmds in (("runtime", runtime), ("learner", learner)):
        if "install-deps.sh --runtime-only" not in runs(cmds):
            fail("the %s image does not run install-deps.sh --runtime-only" % name)
    # The layer order that keeps the 4 GB of libraries out of a source
    # change's rebuild: staged before the first source COPY, copied into the
    # learner image before any binary.
    froms = lambda c: [f for f in c.flags if f.startswith("--from")]
    step = lambda cmds, pred: next((i for i, c in enumerate(cmds) if pred(c)), None)
    staged = step(build, lambda c: c.cmd == "RUN" and "/stage/learner-libs" in " ".join(c.value))
    # The first COPY of anything but deploy/ files (the installer and the CA folder).
    first_source = step(build, lambda c: c.cmd == "COPY" and not froms(c)
                        and not all(v.startswith("deploy/") for v in c.value[:-1]))
    if staged is None or first_source is None or staged > first_source:
        fail("the build stage does not stage /stage/learner-libs before copying the sources")
    own = by_name["learner"][1]
    libs = step(own, lambda c: c.cmd == "COPY" and froms(c) and "learner-libs" in c.value[0])
    bins = step(own, lambda c: c.cmd == "COPY" and froms(c) and "libs" not in c.value[0])
    if libs is None or bins is None or libs > bins:
        fail("the learner stage does not copy /stage/learner-libs/ before the binaries")
    for name, _, _ in stages:
        if not any(c.cmd == "LABEL" and c.value[:1] == ("org.sac-cluster.stage",) for c in chain(name)[1]):
            fail("stage %s has no LABEL org.sac-cluster.stage (make test-compose prunes by it)" % name)
    final = runtime
    users = [c.value[0] for c in final if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        fail("the runtime stage runs as root (USER %r)" % users)
    if any(c.cmd == "USER" for c in own):
        fail("the learner stage changes USER")
    with open(os.path.join(SRC, "docker-compose.yml")) as f:
        services = yaml.safe_load(f)["services"]
    for name, svc in services.items():
        if "build" not in svc:
            continue
        want = "learner" if name == "learner" else "runtime"
        if svc["build"].get("target") != want:
            fail("docker-compose.yml: service %s builds target %r, expected %r"
                 % (name, svc["build"].get("target"), want))
    metrics_port = None
    with open(os.path.join(SRC, "deploy", "config", "replay.txtpb")) as f:
        m = re.search(r'metrics_address: "[^"]*:(\d+)"', f.read())
        metrics_port = m and m.group(1)
    health = [c for c in final if c.cmd == "HEALTHCHECK"]
    if not health or not any("/healthz" in v and (":%s/" % metrics_port) in v for v in health[-1].value):
        fail("no HEALTHCHECK on /healthz at the configs' metrics port %s: %r"
             % (metrics_port, health and health[-1].value))
    entry = [c for c in final if c.cmd == "ENTRYPOINT"]
    if not entry or not entry[-1].value[0].endswith("/docker-entrypoint.sh"):
        fail("ENTRYPOINT is not the entrypoint script: %r" % (entry and entry[-1].value))
    copies = [c.value for c in final if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags)]
    if entry and not any(v[0] == "deploy/docker-entrypoint.sh" and entry[-1].value[0].startswith(v[-1])
                         for v in copies):
        fail("the runtime stage does not copy deploy/docker-entrypoint.sh to %s" % entry[-1].value[0])
    for _, base, stage in stages:
        for c in stage:
            if c.cmd not in ("COPY", "ADD") or any(f.startswith("--from") for f in c.flags):
                continue
            for src in c.value[:-1]:
                if src == ".":
                    continue
                if not glob.glob(os.path.join(SRC, src)):
                    fail("COPY %s: not in the build context" % src)
                elif ignored(src.rstrip("/"), patterns):
                    fail("COPY %s: excluded by .dockerignore" % src)
    # What the context must not carry: build trees, the venv link, run dirs.
    for p in ("build", "build-deploy", ".venv", "runs", ".git"):
        if not ignored(p, patterns):
            fail(".dockerignore does not exclude %s" % p)
    print("%d failure(s); %d stages: %s" % (len(failures), len(stages),
                                            ", ".join("%s (FROM %s)" % (n, b) for n, b, _ in stages)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
