"""`pip install ./python` into a fresh venv (python -m venv) gives a working
sac-cluster-client: its own generated stubs, no PYTHONPATH, no C++ build. The
installed commands pull the newest snapshot from a running learner, load it
and score it in Gymnasium.

Where the fresh venv gets its dependencies: from the project venv, read-only,
through a .pth file, and pip runs with --no-index --no-build-isolation. Nothing
is downloaded, so the test neither needs the network nor copies torch and its
CUDA libraries (about 5 GB) into a new venv on every run; and with --no-index a
dependency the package declares but the pinned set (deploy/requirements.txt)
does not satisfy fails the install instead of being fetched, and `pip check`
checks every declared requirement's version. The setuptools that Python 3.11's
venv puts into every new venv (65.5, which cannot build a wheel without the
`wheel` package) is removed first, so the build uses the pinned set's; a user's
`pip install ./python` (with build isolation) gets setuptools and grpcio-tools
from the index instead. The package itself is built by pip
from a copy of python/ (the proto/ link followed: the copy is what a user's
checkout holds), installed into the fresh venv's own site-packages.
"""

import os
import re
import shutil
import subprocess
import sys
import sysconfig

from conftest import SOURCE_DIR


def run(argv, cwd, env, timeout=300):
    result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}"
    return result.stdout


def test_pip_install_into_a_fresh_venv_pulls_loads_and_scores(cluster, tmp_path):
    cluster.ensure_running()
    address = cluster.learner_address()
    # What a user's shell has: no PYTHONPATH, not the project venv, not the checkout.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("PIP_")}
    work = tmp_path / "user"
    work.mkdir()
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=work, env=env)
    python, bin_dir = str(venv / "bin" / "python"), venv / "bin"
    fresh_site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=work, env=env).strip()
    with open(os.path.join(fresh_site, "sac_project_venv.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "uninstall", "-y", "-q", "setuptools"], cwd=work, env=env)

    package = tmp_path / "python"
    shutil.copytree(os.path.join(SOURCE_DIR, "python"), package,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    out = run([python, "-m", "pip", "install", "--no-index", "--no-build-isolation",
               "--no-cache-dir", str(package)], cwd=work, env=env)
    assert "Successfully installed sac-cluster-client-0.1.0" in out, out
    run([python, "-m", "pip", "check"], cwd=work, env=env)

    # The package and its stubs come from the fresh venv, not from a build tree.
    where = run([python, "-c", "import sac_cluster, sac.v1.policy_pb2 as p, sac.v1.replay_pb2_grpc "
                 "as g; print(sac_cluster.__file__); print(p.__file__); print(g.__file__)"],
                cwd=work, env=env).split()
    assert all(w.startswith(fresh_site) for w in where), (where, fresh_site)

    snapshot = str(work / "policy.safetensors")
    pulled = run([str(bin_dir / "sac-cluster-pull"), address, "--out", snapshot], cwd=work, env=env)
    m = re.search(r"task InvertedPendulum-v5, variant v2, version (\d+)", pulled)
    assert m, pulled
    version = int(m.group(1))
    # The very file the learner wrote for that version.
    on_disk = os.path.join(cluster.run_dir, "learner", "snapshots",
                           f"policy-{version:012d}.safetensors")
    with open(snapshot, "rb") as a, open(on_disk, "rb") as b:
        assert a.read() == b.read()

    loaded = run([python, "-c", (
        "import torch, sac_cluster\n"
        f"policy, meta = sac_cluster.load_policy({snapshot!r})\n"
        "obs = torch.randn(64, meta['obs_dim']) * 3\n"
        "a = policy(obs)\n"
        "low, high = torch.tensor(meta['action_low']), torch.tensor(meta['action_high'])\n"
        "assert a.shape == (64, meta['act_dim']) and bool(((a >= low) & (a <= high)).all())\n"
        "print(meta['task'], meta['variant'], meta['version'], meta['obs_dim'], meta['act_dim'])")],
        cwd=work, env=env)
    assert loaded.split() == ["InvertedPendulum-v5", "v2", str(version), "4", "1"], loaded

    scored = run([str(bin_dir / "sac-cluster-eval"), snapshot, "--episodes", "3"], cwd=work,
                 env=env)
    m = re.search(r"3 episodes, return mean ([-\d.]+) std ([-\d.]+)", scored)
    assert m, scored
    # InvertedPendulum pays 1 per step the pole stays up: every episode has at
    # least one step, at most the 1000-step limit.
    assert 1.0 <= float(m.group(1)) <= 1000.0, scored
