"""Every sac command line in docker-compose.yml and in the rendered Kubernetes
manifests runs through the image's entrypoint and the binary's --validate_only,
and must be accepted (exit 0). Beyond acceptance it checks what the deploy files
promise:
  * each container finds its --config file: compose through its bind mount of
    deploy/config, Kubernetes through the generated ConfigMap (whose data is
    written to a folder that stands in for the mount);
  * the servers bind all interfaces (0.0.0.0) and serve metrics on the port that
    the image's HEALTHCHECK, Prometheus and the scrape annotations use (9100);
  * every --replay_addresses / --learner_address names a service of the same
    deployment and the gRPC port that process binds;
  * the entrypoint gives each actor replica an id and each StatefulSet shard the
    shard index of its pod ordinal.

Usage: PYTHON command_lines_test.py SOURCE_DIR BIN_DIR DOCKER_COMPOSE WORK_DIR, with
the Python of the venv of tests/deploy/install-tools.sh (PyYAML; kubectl beside it).
"""
import os
import re
import subprocess
import sys

import yaml

SRC, BIN, COMPOSE, WORK = sys.argv[1:5]
KUBECTL = os.path.join(os.path.dirname(sys.executable), "kubectl")
ENTRYPOINT = os.path.join(SRC, "deploy", "docker-entrypoint.sh")
METRICS_PORT = "9100"
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def validate(where, argv, config_dir, hostname):
    """Runs argv (the container's command) with --validate_only; returns the
    effective config text, or None after recording a failure."""
    argv = [a.replace("/etc/sac/", config_dir + "/") for a in argv]
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], HOSTNAME=hostname)
    env.pop("SAC_ACTOR_ID", None)
    r = subprocess.run([ENTRYPOINT] + argv + ["--validate_only"], env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("%s: %s --validate_only exited %d: %s" % (where, " ".join(argv), r.returncode,
                                                         (r.stderr or r.stdout).strip()))
        return None
    print("ok: %s: %s" % (where, " ".join(argv)), flush=True)
    return r.stdout


def field(text, name):
    m = re.search(r'^\s*%s: "?([^"\n]*)"?$' % re.escape(name), text, re.M)
    return m.group(1) if m else None


def check_server(where, text):
    grpc, metrics = field(text, "grpc_address"), field(text, "metrics_address")
    if not grpc or not grpc.startswith("0.0.0.0:"):
        fail("%s: gRPC binds %r, not all interfaces" % (where, grpc))
    if metrics != "0.0.0.0:" + METRICS_PORT:
        fail("%s: metrics bind %r, expected 0.0.0.0:%s" % (where, metrics, METRICS_PORT))
    return grpc.rsplit(":", 1)[1] if grpc else None


def addresses(text):
    """The host:port addresses the process calls."""
    out = re.findall(r'^\s*replay_addresses: "([^"]+)"$', text, re.M)
    learner = field(text, "learner_address")
    if learner is not None and re.search(r"^\s*learner_address:", text, re.M):
        out.append(learner)
    return out


def check_identity(where, binary, text, expect_shard):
    if binary == "sac-actor":
        aid = field(text, "actor_id")
        if aid is None or int(aid) == 0:
            fail("%s: the entrypoint gave no actor id (actor_id %r)" % (where, aid))
        return aid
    if binary == "sac-replay" and expect_shard is not None:
        if field(text, "shard_index") != str(expect_shard):
            fail("%s: shard_index %r, expected %s" % (where, field(text, "shard_index"), expect_shard))
    return None


def volume(v):
    """(source, target) of a compose volume, short ("src:dst[:mode]") or long form."""
    if isinstance(v, dict):
        return v.get("source"), v.get("target")
    parts = str(v).split(":")
    return (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])


def host_ip(p):
    """The host address a compose port is published on (None: all interfaces)."""
    if isinstance(p, dict):
        return p.get("host_ip")
    parts = str(p).split(":")
    return parts[0] if len(parts) == 3 else None


def check_compose():
    r = subprocess.run([COMPOSE, "-f", os.path.join(SRC, "docker-compose.yml"), "config"],
                       capture_output=True, text=True, timeout=60, cwd=SRC)
    if r.returncode != 0:
        fail("docker-compose config: " + r.stderr)
        return
    services = yaml.safe_load(r.stdout)["services"]
    grpc_ports, calls = {}, []
    sac = {n: s for n, s in services.items() if str(s.get("image", "")).startswith("sac-cluster")}
    for want in ("learner", "actor", "replay-0", "replay-1"):
        if want not in sac:
            fail("compose: no sac-cluster service %r" % want)
    actor_ids = set()
    for name, svc in sorted(sac.items()):
        where = "compose service " + name
        mounts = [m for m in map(volume, svc.get("volumes", [])) if m[1] == "/etc/sac"]
        if not mounts or os.path.realpath(mounts[0][0]) != os.path.realpath(os.path.join(SRC, "deploy", "config")):
            fail("%s: /etc/sac is not the bind mount of deploy/config: %r" % (where, mounts))
            continue
        argv = svc.get("command")
        if not isinstance(argv, list) or not argv:
            fail("%s: no command list" % where)
            continue
        if "container_name" in svc and name == "actor":
            fail("compose: the scaled actor service must not set container_name")
        # Two replicas of a scaled service: two container ids as hostnames.
        hosts = ["3f9a1c2b7e4d", "a81d0e6c55f2"] if name == "actor" else [name]
        for host in hosts:
            text = validate("%s (host %s)" % (where, host), argv, os.path.join(SRC, "deploy", "config"), host)
            if text is None:
                continue
            grpc_ports[name] = check_server(where, text)
            aid = check_identity(where, argv[0], text, None)
            if aid is not None:
                actor_ids.add(aid)
            calls += [(where, a) for a in addresses(text)]
    if "actor" in sac and len(actor_ids) != 2:
        fail("compose: two actor replicas got ids %r, expected two distinct ones" % actor_ids)
    for name, svc in services.items():
        for p in svc.get("ports", []) or []:
            if host_ip(p) != "127.0.0.1":
                fail("compose service %s: port %r is not published on 127.0.0.1 only" % (name, p))
    for where, addr in calls:
        host, port = addr.rsplit(":", 1)
        if host not in grpc_ports:
            fail("%s: calls %s, which is no sac service" % (where, addr))
        elif grpc_ports[host] != port:
            fail("%s: calls %s, but %s binds gRPC port %s" % (where, addr, host, grpc_ports[host]))


def check_k8s(overlay):
    r = subprocess.run([KUBECTL, "kustomize", os.path.join(SRC, "deploy", "k8s", "overlays", overlay)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("kubectl kustomize %s: %s" % (overlay, r.stderr))
        return
    objs = [o for o in yaml.safe_load_all(r.stdout) if o]
    config_maps = {o["metadata"]["name"]: o.get("data", {}) for o in objs if o["kind"] == "ConfigMap"}
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    grpc_ports, calls, workloads = {}, [], 0
    for o in objs:
        if o["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name = o["metadata"]["name"]
        pod = o["spec"]["template"]
        ann = pod["metadata"].get("annotations", {})
        where = "k8s %s %s/%s" % (overlay, o["kind"], name)
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != METRICS_PORT:
            fail("%s: missing Prometheus scrape annotations: %r" % (where, ann))
        volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for c in pod["spec"]["containers"]:
            if not str(c.get("image", "")).startswith("sac-cluster"):
                continue
            workloads += 1
            mount = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/etc/sac"]
            cm = mount and volumes.get(mount[0]["name"], {}).get("configMap", {}).get("name")
            if not cm or cm not in config_maps:
                fail("%s: /etc/sac is not a mount of a generated ConfigMap" % where)
                continue
            conf_dir = os.path.join(WORK, overlay, cm)
            os.makedirs(conf_dir, exist_ok=True)
            for key, value in config_maps[cm].items():
                with open(os.path.join(conf_dir, key), "w") as f:
                    f.write(value)
            argv = c.get("command", []) + c.get("args", [])
            replicas = o["spec"].get("replicas", 1)
            if o["kind"] == "StatefulSet":
                hosts = [("%s-%d" % (name, i), i) for i in range(replicas)]
            else:
                hosts = [("%s-7c9f5d8b4-x2k%d" % (name, i), None) for i in range(min(replicas, 2))]
            ids = set()
            for host, ordinal in hosts:
                text = validate("%s (pod %s)" % (where, host), argv, conf_dir, host)
                if text is None:
                    continue
                port = check_server(where, text)
                declared = next((str(p["containerPort"]) for p in c.get("ports", []) if p.get("name") == "grpc"), None)
                if port != declared:
                    fail("%s: binds gRPC port %s but declares containerPort %s" % (where, port, declared))
                if o["kind"] == "StatefulSet":
                    grpc_ports["%s.%s" % (host, o["spec"]["serviceName"])] = port
                for svc_name, svc in services.items():
                    selector = svc["spec"].get("selector", {})
                    if svc["spec"].get("clusterIP") == "None" or not selector or any(
                            pod["metadata"]["labels"].get(k) != v for k, v in selector.items()):
                        continue
                    for sp in svc["spec"]["ports"]:
                        if str(sp.get("targetPort")) in ("grpc", port):
                            grpc_ports[svc_name] = str(sp["port"])
                aid = check_identity(where, argv[0], text, ordinal)
                if aid is not None:
                    ids.add(aid)
                calls += [(where, a) for a in addresses(text)]
            if argv[0] == "sac-actor" and len(ids) != len(hosts):
                fail("%s: replicas got ids %r, expected distinct ones" % (where, ids))
    if workloads < 3:
        fail("k8s %s: expected replay, learner and actor workloads, found %d" % (overlay, workloads))
    for where, addr in calls:
        host, port = addr.rsplit(":", 1)
        if host not in grpc_ports:
            fail("%s: calls %s, which no Service or StatefulSet pod provides" % (where, addr))
        elif grpc_ports[host] != port:
            fail("%s: calls %s, but it serves gRPC on %s" % (where, addr, grpc_ports[host]))


def main():
    if not COMPOSE or not os.access(COMPOSE, os.X_OK):
        fail("docker-compose not found (%r): run deploy/install-deps.sh, then re-run cmake" % COMPOSE)
    if not os.access(KUBECTL, os.X_OK):
        fail("%s missing: run tests/deploy/install-tools.sh" % KUBECTL)
    for b in ("sac-replay", "sac-learner", "sac-actor"):
        if not os.access(os.path.join(BIN, b), os.X_OK):
            fail("missing binary %s/%s: build it first" % (BIN, b))
    if failures:
        return 1
    check_compose()
    overlays = sorted(os.listdir(os.path.join(SRC, "deploy", "k8s", "overlays")))
    for overlay in overlays:
        check_k8s(overlay)
    print("%d failure(s); compose and %d overlays (%s) checked" % (len(failures), len(overlays), ", ".join(overlays)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
