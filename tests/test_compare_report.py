"""The comparison report from synthetic run metrics (no training): every section renders, the
intervals and paired differences are the ones the summary computes, the impairment threshold is
found, the plots are written."""

from __future__ import annotations

import dataclasses
import json

import pytest

from thermospu.host_kfac.compare import summarize
from thermospu.host_kfac.compare_plan import ComparisonPlan, plan_runs
from thermospu.host_kfac.compare_report import write_report

PLAN = ComparisonPlan(name="synthetic", steps=20, eval_every=10, seeds=(0, 1, 2),
                      adam_lrs=(1e-3,), sgd_lrs=(0.1,), methods=("inverse", "linsolve"),
                      bits=(4, 8), sample_counts=(250, 1000),
                      impairments=(("coupling_mismatch", (0.01, 0.05)),
                                   ("adc_offset", (0.001,))))

#: Final accuracy of each group before the per-seed offset; device error of the SPU groups.
ACCURACY = {"adam lr=0.001": 0.80, "sgd lr=0.1": 0.78, "K-FAC digital": 0.86,
            "K-FAC SPU M1 inverse 8/8": 0.85, "K-FAC SPU M2 linsolve 8/8": 0.855,
            "sweep in 4": 0.83, "sweep out 4": 0.70, "sweep in 8": 0.85, "sweep out 8": 0.85,
            "samples 250": 0.84, "samples 1000": 0.85,
            "impair coupling_mismatch 0.01": 0.84, "impair coupling_mismatch 0.05": 0.75,
            "impair adc_offset 0.001": 0.85}


def fake_metrics(group, cfg) -> dict:
    final = ACCURACY[group] + 0.01 * cfg.seed
    metrics = {"group": group, "config": dataclasses.asdict(cfg), "eval_steps": [10, 20],
               "test_accuracy": [final - 0.1, final], "final_test_accuracy": final,
               "loss": [1.0] * 20, "wall_s_total": 0.2, "spu_steps": [0] * 19 + [400],
               "solver_metrics": {"device_jobs": 8, "fallbacks": 0}, "diverged": False,
               "run_wall_s": 1.5}
    if cfg.solver == "spu":
        error = 0.5 if group == "sweep out 4" else 0.05
        metrics["device_error"] = {"count": 8, "median": error, "p90": 2 * error, "max": 3 * error}
    return metrics


@pytest.fixture
def report(tmp_path):
    results = [fake_metrics(g, cfg) for g, cfg in plan_runs(PLAN)]
    summary = summarize(results, PLAN)
    summary.update(step_time={"K-FAC digital": {"sgd_mean_s": 1e-3, "kfac_mean_s": 2e-3,
                                                "ratio": 2.0, "ratio_median": 2.0}},
                   total_wall_s=90.0, jobs=2, command="thermospu compare --plan synthetic")
    write_report(summary, results, PLAN, tmp_path)
    return summary, (tmp_path / "report.md").read_text(), tmp_path


def test_summary_intervals_and_paired_differences(report):
    summary, _, _ = report
    digital = summary["groups"]["K-FAC digital"]
    assert digital["final_mean"] == pytest.approx(0.87)
    assert digital["final_ci95"] == pytest.approx(4.302653 * 0.01 / 3 ** 0.5, rel=1e-5)  # s 0.01, n 3
    # Every seed shifts both groups alike: the paired difference has no spread at all.
    d = summary["differences"]["K-FAC digital vs adam lr=0.001"]
    assert d["mean"] == pytest.approx(0.06) and d["half"] == pytest.approx(0.0, abs=1e-12)
    assert summary["differences"]["sweep out 4 vs K-FAC digital"]["mean"] == pytest.approx(-0.16)
    assert summary["groups"]["sweep out 4"]["device_error_median"] == pytest.approx(0.5)
    assert summary["groups"]["adam lr=0.001"]["device_error_median"] is None
    assert summary["impairment_thresholds"] == {"coupling_mismatch": 0.05, "adc_offset": None}
    assert json.loads(json.dumps(summary))["groups"]["sweep in 4"]["final_per_seed"]


def test_every_section_and_plot_is_written(report):
    _, text, out = report
    for heading in ("## All optimizers", "## Thermodynamic K-FAC at 8-bit",
                    "## Digital K-FAC vs the best first-order runs",
                    "## Method 1 (inverse) vs Method 2", "## Accuracy vs bits",
                    "## Accuracy and device error vs samples per job", "## Analog impairments",
                    "### `coupling_mismatch`", "## Accuracy vs device error", "## Step time"):
        assert heading in text, heading
    assert "thermospu compare --plan synthetic" in text and "wall time 1.5 min" in text
    assert "95 % Student-t" in text and "paired" in text
    assert "| K-FAC digital | 0.8700 ± 0.0248 |" in text
    assert "| K-FAC digital − adam lr=0.001 | +6.00 ± 0.00 * |" in text
    assert "falls below the best Adam's: **0.05**." in text
    assert "falls below the best Adam's: not within the sweep." in text
    for png in ("test_accuracy.png", "train_loss.png", "accuracy_vs_bits.png",
                "device_error_vs_bits.png", "accuracy_vs_samples.png",
                "impairment_coupling_mismatch.png", "impairment_adc_offset.png",
                "accuracy_vs_device_error.png"):
        assert 1000 < (out / png).stat().st_size < 200_000, png
