"""A small local cluster for the tests of this folder: `sacctl local` (the real
sac-replay, sac-learner and sac-actor binaries on loopback ports it picks) on
InvertedPendulum-v5 with 32x32 networks, evaluating every 1000 env steps and
writing a TensorBoard training record every second. One cluster per pytest session."""

import os
import signal
import subprocess
import time

import pytest

SOURCE_DIR = os.environ.get("SAC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY_DIR = os.environ.get("SAC_BINARY_DIR", os.path.join(SOURCE_DIR, "build"))
SACCTL = os.path.join(BINARY_DIR, "bin", "sacctl")
EVALUATIONS = 3  # rows of eval.csv the tests wait for


def wait_for(condition, timeout, what, proc=None):
    """Polls `condition` until true or `timeout` seconds; fails naming `what`
    (and the end of the process's output when it died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited ({proc.returncode})")
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def eval_rows(run_dir):
    """The data rows of the learner's eval.csv (dicts by column)."""
    path = os.path.join(run_dir, "learner", "eval.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip()]
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


class LocalCluster:
    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.proc = None
        self.output_path = os.path.join(os.path.dirname(run_dir), "sacctl.out")
        self.starts = 0

    def start(self):
        assert os.path.exists(SACCTL), f"{SACCTL} is not built"
        args = [SACCTL, "local", "--task=InvertedPendulum-v5", "--variant=v2", "--shards=1",
                "--actors=1", "--envs_per_actor=1", f"--run_dir={self.run_dir}", "--seed=3",
                "--replay_capacity=100000", "--min_replay_size=500", "--random_steps=500",
                "--eval_every_env_steps=1000", "--eval_episodes=2", "--hidden_sizes=32,32",
                "--learner_threads=1", "--durability=false", "--plain_progress",
                "--learner_flag=--tensorboard.interval_seconds=1"]
        self.starts += 1
        out = open(self.output_path, "a")
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                     env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
        out.close()
        wait_for(lambda: self.learner_address() is not None, 120,
                 "the cluster's addresses.txt", self.proc)

    def output(self):
        with open(self.output_path) as f:
            return f.read()

    def learner_address(self):
        """host:port of the learner, from the run's addresses.txt (written
        whole by sacctl once every process is up)."""
        path = os.path.join(self.run_dir, "addresses.txt")
        if not os.path.exists(path):
            return None
        with open(path) as f:
            for line in f:
                if line.startswith("learner="):
                    return line.split()[0].split("=", 1)[1]
        return None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self):
        if not self.running():
            addresses = os.path.join(self.run_dir, "addresses.txt")
            if os.path.exists(addresses):
                os.remove(addresses)
            self.start()

    def stop(self):
        """Ctrl-C, as a user stops it: every process checkpoints and exits."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            rc = self.proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("sacctl local did not stop within 240 s of SIGINT")
        assert rc == 0, self.output()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    c = LocalCluster(str(tmp_path_factory.mktemp("cluster") / "run"))
    c.start()
    wait_for(lambda: len(eval_rows(c.run_dir)) >= EVALUATIONS, 600,
             f"{EVALUATIONS} evaluations in eval.csv", c.proc)
    yield c
    c.stop()
