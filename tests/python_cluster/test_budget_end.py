"""`sacctl local --max_env_steps=N` ends a run at its budget with the learner's
evaluation at the last evaluation point within it in eval.csv: the learner
starts that evaluation when the env steps cross the point, and stopping at once
(as sacctl local did) cancelled it whenever it was still running. HalfCheetah
episodes always run 1000 steps, so the evaluation takes long enough that an
immediate stop cancels it every time."""

import os
import subprocess

from conftest import SACCTL, eval_rows

BUDGET = 3000


def test_budget_run_ends_with_the_evaluation_at_its_budget(tmp_path):
    run_dir = str(tmp_path / "run")
    args = [SACCTL, "local", "--task=HalfCheetah-v5", "--variant=v2", "--shards=1", "--actors=1",
            "--envs_per_actor=1", f"--run_dir={run_dir}", "--seed=5", "--min_replay_size=500",
            "--random_steps=500", "--eval_every_env_steps=1000", "--eval_episodes=10",
            "--hidden_sizes=32,32", "--learner_threads=1", "--durability=false",
            "--plain_progress", f"--max_env_steps={BUDGET}",
            "--learner_flag=--tensorboard.enabled=false"]
    run = subprocess.run(args, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "env-step budget spent" in run.stdout, run.stdout
    rows = eval_rows(run_dir)
    steps = [int(r["env_steps"]) for r in rows]
    assert steps and steps[-1] >= BUDGET, (steps, run.stdout)
