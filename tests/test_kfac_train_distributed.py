"""`thermospu train --nproc 2` and the documented `torchrun` command (two CPU processes, gloo on
loopback) against the 1-process run.

Tolerance: with the same global batch, per-step training losses and per-evaluation test losses
of the 2-process run equal the 1-process run's to ``atol=1e-5`` (float32; measured differences
are ~1e-7, from the order of the gradient and factor sums), and the test accuracies are equal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from test_kfac_train import main

RUN = ["train", "--steps", "8", "--eval-every", "4", "--batch-size", "32",
       "--inv-update-interval", "3", "--hidden", "16", "--no-progress"]


def _metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("one")
    assert main([*RUN, "--out", str(out)]) == 0
    return _metrics(out)


def _assert_equal_runs(one: dict, two: dict) -> None:
    assert two["config"]["nproc"] == 2 and two["config"]["hidden"] == [16]
    assert two["loss"] == pytest.approx(one["loss"], rel=0, abs=1e-5)
    assert two["test_loss"] == pytest.approx(one["test_loss"], rel=0, abs=1e-5)
    assert two["test_accuracy"] == one["test_accuracy"]
    reports = two["rank_reports"]
    assert [r["rank"] for r in reports] == [0, 1]
    assert sorted(l for r in reports for l in r["layers"]) == ["0", "2"]


def test_two_processes_equal_one_process(tmp_path, one_process, capsys):
    assert main([*RUN, "--nproc", "2", "--out", str(tmp_path)]) == 0
    _assert_equal_runs(one_process, _metrics(tmp_path))
    assert "rank 1: layers" in capsys.readouterr().out


def test_torchrun_equals_one_process(tmp_path, one_process):
    """``torchrun --standalone --nproc_per_node=2 -m thermospu.host_kfac.cli train ...``
    (``torchrun`` is ``python -m torch.distributed.run``; run with this interpreter)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "-m", "thermospu.host_kfac.cli", *RUN, "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_equal_runs(one_process, _metrics(tmp_path))
    assert done.stdout.count("final test accuracy") == 1          # rank 0 reports


def test_each_rank_issues_its_own_device_jobs(tmp_path):
    out = tmp_path / "spu"
    assert main([*RUN, "--steps", "4", "--inv-update-interval", "2", "--solver", "spu",
                 "--samples", "200", "--nproc", "2", "--out", str(out)]) == 0
    metrics = _metrics(out)
    reports = metrics["rank_reports"]
    for report in reports:                  # 2 inverse updates x (A, G) of its one layer
        assert report["layers"] and report["device_jobs"] == 2 * 2 * len(report["layers"])
        assert report["rank_fallbacks"] == 0
    assert metrics["solver_metrics"]["device_jobs"] == sum(r["device_jobs"] for r in reports)
    assert metrics["spu_steps"][-1] == metrics["solver_metrics"]["spu_steps"] > 0


def test_a_failing_rank_is_one_error(tmp_path):
    """A rank whose device cannot be opened stops the run with the rank and its error."""
    with pytest.raises(ChildProcessError, match="rank 0 of 2 failed: .*ConfigError: n=0"):
        main([*RUN, "--steps", "2", "--solver", "spu", "--device", "model?n={rank}",
              "--nproc", "2"])
