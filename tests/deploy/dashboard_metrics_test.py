"""Every metric the Grafana dashboard queries is exposed by a running process.

Starts a small real cluster with `sacctl local` (InvertedPendulum-v5, 1 shard, 1
actor, small networks, an early evaluation), scrapes every process's /metrics
(and checks /healthz), and fails on any metric name in a dashboard expression
that no process exposes. Names are taken from the PromQL: string literals, label
matchers, ranges, grouping clauses and function/aggregation calls are stripped;
every remaining identifier is a metric name. Histograms count by their exposed
series (_bucket/_sum/_count). `up` is the one name allowed without a process
exposing it: Prometheus writes it for every target.

Usage: dashboard_metrics_test.py SOURCE_DIR BIN_DIR WORK_DIR
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

SRC, BIN, WORK = sys.argv[1:4]
DASHBOARDS = sorted(glob.glob(os.path.join(SRC, "deploy", "grafana", "dashboards", "*.json")))
PROMETHEUS_OWN = {"up"}
KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}
DEADLINE_S = 100


def expressions(panels):
    for p in panels:
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title", "?"), t["expr"]
        yield from expressions(p.get("panels", []))


def metric_names(expr):
    e = re.sub(r'"(\\.|[^"\\])*"|\'(\\.|[^\'\\])*\'', " ", expr)      # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                                   # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                  # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"[A-Za-z_:][A-Za-z0-9_:]*\s*\(", "(", e)               # calls, aggregations
    names = set()
    for tok in re.findall(r"(?<![0-9.])[A-Za-z_:][A-Za-z0-9_:]*", e):
        if tok.lower() not in KEYWORDS:
            names.add(tok)
    return names


def scrape(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return r.status, r.read().decode()


def series_names(text):
    return {re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
            for line in text.splitlines() if line and not line.startswith("#")}


def main():
    if not DASHBOARDS:
        print("FAIL: no dashboard JSON in deploy/grafana/dashboards")
        return 1
    wanted = {}  # metric name -> panels using it
    for path in DASHBOARDS:
        with open(path) as f:
            dash = json.load(f)
        for title, expr in expressions(dash.get("panels", [])):
            names = metric_names(expr)
            if not names:
                print("FAIL: %s: panel %r: no metric in %r" % (os.path.basename(path), title, expr))
                return 1
            for n in names:
                wanted.setdefault(n, set()).add(title)
    print("dashboard queries %d metric names" % len(wanted), flush=True)
    if len(wanted) < 20:
        print("FAIL: only %d metric names found in the dashboards: the parser or the dashboard is broken" % len(wanted))
        return 1

    run_dir = os.path.join(WORK, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(WORK, exist_ok=True)
    log = open(os.path.join(WORK, "sacctl.log"), "w")
    cmd = [os.path.join(BIN, "sacctl"), "local", "--task=InvertedPendulum-v5", "--shards=1",
           "--actors=1", "--run_dir=" + run_dir, "--min_replay_size=300", "--random_steps=300",
           "--samples_per_insert=8", "--eval_every_env_steps=500", "--eval_episodes=1",
           "--hidden_sizes=32,32", "--plain_progress", "--durability=false"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    missing, exposed = set(wanted), {}
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            ports = {}
            for pf in glob.glob(os.path.join(run_dir, "ports", "*")):
                with open(pf) as f:
                    m = re.search(r"metrics=(\d+)", f.read())
                if m:
                    ports[os.path.basename(pf)] = int(m.group(1))
            if {"learner", "replay-0", "actor-0"} <= set(ports):
                for name, port in ports.items():
                    try:
                        status, health = scrape(port, "/healthz")
                        _, text = scrape(port, "/metrics")
                    except OSError:
                        continue
                    if status != 200:
                        continue
                    exposed[name] = series_names(text)
                if len(exposed) >= 3:
                    union = set().union(*exposed.values())
                    missing = {n for n in wanted if n not in union and n not in PROMETHEUS_OWN}
                    if not missing:
                        break
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # sacctl local stops actors, learner, shards
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()

    for name, names in sorted(exposed.items()):
        print("%s exposes %d series names" % (name, len(names)))
    if len(exposed) < 3:
        with open(os.path.join(WORK, "sacctl.log")) as f:
            tail = f.read()[-3000:]
        print("FAIL: the local cluster did not serve /healthz and /metrics on all of learner, replay-0, actor-0 "
              "(exit code %r); end of its log:\n%s" % (proc.returncode, tail))
        return 1
    if missing:
        for n in sorted(missing):
            print("FAIL: the dashboard queries %s (panels: %s) but no process exposes it"
                  % (n, ", ".join(sorted(wanted[n]))))
        return 1
    print("ok: all %d dashboard metric names are exposed (%s from Prometheus itself)"
          % (len(wanted), ", ".join(sorted(PROMETHEUS_OWN & set(wanted)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
