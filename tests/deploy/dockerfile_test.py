"""deploy/Dockerfile parses with the official BuildKit parser (the `dockerfile`
wheel wraps it) and keeps its promises: a build stage on debian:bookworm that
runs deploy/install-deps.sh, a final stage on debian:bookworm-slim that runs
install-deps.sh --runtime-only, a non-root USER, a HEALTHCHECK on /healthz at
the metrics port of deploy/config, the entrypoint script as ENTRYPOINT, and
every COPY source present in the build context and not excluded by
.dockerignore. No image is built (no container engine here).

Usage: PYTHON dockerfile_test.py SOURCE_DIR (Python of tests/deploy/install-tools.sh)
"""
import fnmatch
import glob
import os
import re
import sys

import dockerfile

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
    cmds = dockerfile.parse_file(os.path.join(SRC, "deploy", "Dockerfile"))
    with open(os.path.join(SRC, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    args = {}
    stages = []  # [(base image, [commands])]
    for c in cmds:
        if c.cmd == "ARG" and not stages:
            k, _, v = c.value[0].partition("=")
            args[k] = v
        elif c.cmd == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), c.value[0])
            stages.append((base, []))
        elif stages:
            stages[-1][1].append(c)
    if len(stages) < 2:
        fail("expected a multi-stage build, found %d stage(s)" % len(stages))
        return 1
    build_base, build = stages[0]
    final_base, final = stages[-1]
    if build_base != "debian:bookworm":
        fail("build stage is FROM %r, expected debian:bookworm" % build_base)
    if final_base != "debian:bookworm-slim":
        fail("final stage is FROM %r, expected debian:bookworm-slim" % final_base)
    runs = lambda stage: " ".join(" ".join(c.value) for c in stage if c.cmd == "RUN")
    if "install-deps.sh" not in runs(build):
        fail("the build stage does not run deploy/install-deps.sh")
    if "install-deps.sh --runtime-only" not in runs(final):
        fail("the final stage does not run install-deps.sh --runtime-only")
    users = [c.value[0] for c in final if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        fail("the final stage runs as root (USER %r)" % users)
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
    if "docker-entrypoint.sh" not in runs(build):
        fail("the build stage does not stage deploy/docker-entrypoint.sh")
    for base, stage in stages:
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
    print("%d failure(s); %d stages: %s" % (len(failures), len(stages), ", ".join(b for b, _ in stages)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
