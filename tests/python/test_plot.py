"""`sacctl plot` draws learning curves from eval.csv files (the real CLI)."""
import os
import shutil
import subprocess

import numpy as np
import pytest

from sac_cluster import plot

HERE = os.path.dirname(__file__)
FIXTURE = os.path.join(HERE, "fixtures", "eval_small.csv")


def make_run(tmp_path, name, scale=1.0):
    d = tmp_path / name
    d.mkdir()
    rows = open(FIXTURE).read().splitlines()
    out = [rows[0]]
    for r in rows[1:]:
        cols = r.split(",")
        cols[4] = str(float(cols[4]) * scale)
        out.append(",".join(cols))
    (d / "eval.csv").write_text("\n".join(out) + "\n")
    return str(d)


def test_reads_and_aggregates(tmp_path):
    a = plot.read_eval_csv(make_run(tmp_path, "hc_seed0"))
    b = plot.read_eval_csv(make_run(tmp_path, "hc_seed1", scale=0.5))
    np.testing.assert_array_equal(a[0], [2000, 4000, 6000])
    grid, mean, std = plot.aggregate([a, b])
    assert grid[0] == 2000 and grid[-1] == 6000
    assert mean[-1] == pytest.approx(675.0)
    assert std[-1] == pytest.approx(225.0)


def test_sacctl_plot_writes_png(tmp_path):
    sacctl = os.path.join(os.environ["SAC_BINARY_DIR"], "bin", "sacctl")
    runs = [make_run(tmp_path, "hc_seed0"), make_run(tmp_path, "hc_seed1", 0.8)]
    ref = tmp_path / "ref.csv"
    ref.write_text("label,env_steps,return,source\nexample,5000,800,fixture\n")
    out = tmp_path / "curves.png"
    r = subprocess.run([sacctl, "plot", *runs, f"--out={out}", f"--reference={ref}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_missing_csv_is_a_clear_error(tmp_path):
    sacctl = os.path.join(os.environ["SAC_BINARY_DIR"], "bin", "sacctl")
    r = subprocess.run([sacctl, "plot", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "no eval.csv" in r.stderr


def test_every_evaluation_is_drawn_at_its_value(tmp_path):
    # A spike between grid points must not be smoothed away: one run's curve
    # is exactly its points, and two runs with offset evaluation steps are
    # both drawn at each of their own points.
    s = np.array([5000, 10000, 15000, 20000, 25000])
    r = np.array([100.0, 200.0, 4803.0, 300.0, 400.0])
    grid, mean, std = plot.aggregate([(s, r)])
    np.testing.assert_array_equal(grid, s)
    np.testing.assert_array_equal(mean, r)
    assert not std.any()
    s2 = s + 100
    grid, mean, _ = plot.aggregate([(s, r), (s2, r)])
    assert 15000 in grid and 15100 in grid
    assert grid[0] == 5100 and grid[-1] == 25000
    i = int(np.where(grid == 15000)[0][0])
    j = int(np.where(grid == 15100)[0][0])
    # At 15000 run one is at its spike, run two (points 10100, 15100) on the
    # way up to it; at 15100 run two is at its spike, run one on the way down.
    assert mean[i] == pytest.approx((4803.0 + 200.0 + (4803.0 - 200.0) * 4900 / 5000) / 2)
    assert mean[j] == pytest.approx((4803.0 + 4803.0 - (4803.0 - 300.0) * 100 / 5000) / 2)


def test_bad_reference_csv_is_a_clear_error(tmp_path):
    sacctl = os.path.join(os.environ["SAC_BINARY_DIR"], "bin", "sacctl")
    run = make_run(tmp_path, "hc_seed0")
    out = tmp_path / "curves.png"
    for text, expected in [("label,steps,return,source\nx,1,2,y\n", "missing columns ['env_steps']"),
                           ("label,env_steps,return,source\nx,1M,2,y\n", ":2: env_steps and return")]:
        ref = tmp_path / "ref.csv"
        ref.write_text(text)
        r = subprocess.run([sacctl, "plot", run, f"--out={out}", f"--reference={ref}"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert "sacctl plot: --reference:" in r.stderr and expected in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert not out.exists()
