"""The learner's TensorBoard event files, read back with the `tensorboard`
package's own readers (EventAccumulator, EventFileLoader: the masked CRC-32C
framing and the Event protos are checked there), agree with what the learner
recorded elsewhere: the evaluations of eval.csv at their env steps, the update
count of its last line, and `sacctl local` printed the `tensorboard --logdir`
line that opens them."""

import glob
import math
import os
import re

import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import eval_rows, wait_for

TRAIN_TAGS = {"loss/q1", "loss/q2", "loss/policy", "loss/temperature", "train/temperature",
              "train/entropy", "train/q1_mean", "train/updates",
              "throughput/updates_per_second", "throughput/env_steps_per_second"}
EVAL_TAGS = {"eval/return_mean", "eval/return_std", "eval/train_return_mean",
             "eval/train_return_std"}
EVAL_COLUMNS = {"eval/return_mean": "eval_return_mean", "eval/return_std": "eval_return_std",
                "eval/train_return_mean": "train_return_mean",
                "eval/train_return_std": "train_return_std"}


def records(learner_dir):
    """Events with a summary in the learner's event files so far."""
    return sum(sum(e.HasField("summary") for e in event_file_loader.EventFileLoader(path).Load())
               for path in glob.glob(os.path.join(learner_dir, "events.out.tfevents.*")))


def test_event_files_match_the_learners_records(cluster):
    cluster.ensure_running()
    learner_dir = os.path.join(cluster.run_dir, "learner")
    # Training records come once a second: a few, besides the evaluations.
    wait_for(lambda: records(learner_dir) >= len(eval_rows(cluster.run_dir)) + 4, 120,
             "4 training records in the event files", cluster.proc)
    cluster.stop()  # the learner writes its last record at stop

    # The line `make run` (sacctl local) prints names this folder and a
    # tensorboard that exists.
    printed = re.findall(r"^TensorBoard: (\S+) --logdir (\S+)$", cluster.output(), re.M)
    assert printed, cluster.output()
    tensorboard, logdir = printed[-1]
    assert os.path.samefile(logdir, learner_dir)
    assert tensorboard.endswith("/tensorboard") and os.access(tensorboard, os.X_OK), tensorboard

    files = sorted(glob.glob(os.path.join(learner_dir, "events.out.tfevents.*")))
    assert len(files) == cluster.starts, files  # one per learner process
    for path in files:
        events = list(event_file_loader.EventFileLoader(path).Load())
        assert events[0].file_version == "brain.Event:2"
        assert all(e.HasField("summary") for e in events[1:])

    acc = EventAccumulator(learner_dir, size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert tags == TRAIN_TAGS | EVAL_TAGS, tags  # v2: no loss/v

    # Evaluations: one point per eval.csv row, at its env steps, with its values
    # (the CSV has 6 significant digits, the events float32).
    rows = eval_rows(cluster.run_dir)
    assert len(rows) >= 3
    for tag, column in EVAL_COLUMNS.items():
        points = acc.Scalars(tag)
        assert [p.step for p in points] == [int(r["env_steps"]) for r in rows], tag
        for p, r in zip(points, rows):
            assert p.value == pytest.approx(float(r[column]), rel=2e-5, abs=1e-4), (tag, r)

    # Training records: at nondecreasing env steps, finite, with the update
    # count rising to the learner's final one (its log's last line).
    log = open(os.path.join(cluster.run_dir, "logs", "learner.log")).read()
    final_updates = int(re.findall(r"learner stopped after (\d+) updates", log)[-1])
    updates = acc.Scalars("train/updates")
    assert len(updates) >= 4, updates
    assert updates[-1].value == final_updates
    assert all(a.value <= b.value for a, b in zip(updates, updates[1:]))
    assert updates[0].value > 0
    for tag in TRAIN_TAGS:
        points = acc.Scalars(tag)
        assert len(points) == len(updates), tag
        assert [p.step for p in points] == [u.step for u in updates], tag
        assert all(math.isfinite(p.value) for p in points), tag
    steps = [u.step for u in updates]
    assert all(a <= b for a, b in zip(steps, steps[1:])) and steps[-1] > 0
    assert all(p.value > 0 for p in acc.Scalars("train/temperature"))
    # Updates happened between most records: their rate is positive there.
    rates = [p.value for p in acc.Scalars("throughput/updates_per_second")]
    assert sum(r > 0 for r in rates) >= len(rates) - 1, rates
