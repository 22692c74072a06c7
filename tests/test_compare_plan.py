"""The comparison's plans: which runs, on which device URIs, with which options; the CLI's
--plan and the options that override it."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from thermospu.host_kfac.cli import compare as compare_cli
from thermospu.host_kfac.compare import MNIST1D, PLANS, QUICK, WIDE, ComparisonPlan, plan_runs
from thermospu.host_kfac.compare_plan import impairment_uri


def test_impairment_uris_join_options_with_the_right_separator():
    assert impairment_uri("model", "coupling_mismatch", 0.01, 3) == \
        "model?coupling_mismatch=0.01&impairment_seed=3"
    assert impairment_uri("model?n=64", "adc_offset", 0.003, 0) == \
        "model?n=64&adc_offset=0.003&impairment_seed=0"


def test_sampling_and_impairment_sweeps_plan_method_1_at_the_main_bits():
    plan = dataclasses.replace(QUICK, seeds=(0, 1), sample_counts=(250, 1000),
                               impairments=(("coupling_mismatch", (0.01, 0.05)),
                                            ("adc_gain_error", (0.02,))),
                               device="model?n=80")
    runs = plan_runs(plan)
    samples = [(g, c) for g, c in runs if g.startswith("samples ")]
    assert [g for g, _ in samples] == ["samples 250", "samples 1000"] * 2
    assert [c.samples for _, c in samples] == [250, 1000, 250, 1000]
    impaired = [(g, c) for g, c in runs if g.startswith("impair ")]
    assert [(g, c.seed, c.device) for g, c in impaired] == [
        ("impair coupling_mismatch 0.01", 0, "model?n=80&coupling_mismatch=0.01&impairment_seed=0"),
        ("impair coupling_mismatch 0.05", 0, "model?n=80&coupling_mismatch=0.05&impairment_seed=0"),
        ("impair adc_gain_error 0.02", 0, "model?n=80&adc_gain_error=0.02&impairment_seed=0"),
        ("impair coupling_mismatch 0.01", 1, "model?n=80&coupling_mismatch=0.01&impairment_seed=1"),
        ("impair coupling_mismatch 0.05", 1, "model?n=80&coupling_mismatch=0.05&impairment_seed=1"),
        ("impair adc_gain_error 0.02", 1, "model?n=80&adc_gain_error=0.02&impairment_seed=1")]
    for _, cfg in samples + impaired:
        assert (cfg.solver, cfg.method, cfg.in_bits, cfg.out_bits) == ("spu", "inverse", 8, 8)
        assert cfg.measure_error
    spu = [cfg for _, cfg in runs if cfg.solver == "spu"]
    assert all(cfg.measure_error for cfg in spu)
    assert not any(cfg.measure_error for _, cfg in runs if cfg.solver != "spu")


def test_quick_stays_short_and_unswept():
    runs = plan_runs(QUICK)
    assert len(runs) == 4 and QUICK.sample_counts == () and QUICK.impairments == ()
    assert QUICK.steps <= 100 and QUICK.seeds == (0,)


def test_the_long_plans():
    assert len(MNIST1D.seeds) >= 5 and len(WIDE.seeds) >= 5
    assert (MNIST1D.dataset, MNIST1D.model) == ("mnist1d", "cnn")
    assert MNIST1D.bits == (4, 6, 8, 10, 12, 16) and MNIST1D.methods == ("inverse", "linsolve")
    assert MNIST1D.sample_counts and MNIST1D.impairments
    assert (WIDE.dataset, WIDE.model) == ("mnist1d", "mlp") and min(WIDE.hidden) >= 256
    assert WIDE.split_blocks and WIDE.spu_n < min(WIDE.hidden)
    wide_spu = [cfg for _, cfg in plan_runs(WIDE) if cfg.solver == "spu"]
    assert all(cfg.split_blocks and cfg.spu_n == WIDE.spu_n for cfg in wide_spu)
    assert set(PLANS) == {"digits", "mnist1d", "wide"}


def test_plans_refuse_unknown_impairments_and_sizes():
    with pytest.raises(ValueError, match="not a device option"):
        ComparisonPlan(impairments=(("thermal_runaway", (0.1,)),))
    with pytest.raises(ValueError, match="positive sizes"):
        ComparisonPlan(impairments=(("dac_offset", ()),))
    with pytest.raises(ValueError, match="sample_counts"):
        ComparisonPlan(sample_counts=(0,))


def parse(argv):
    parser = argparse.ArgumentParser()
    compare_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_the_cli_plan_keeps_its_model_unless_an_option_overrides_it(monkeypatch, tmp_path):
    seen = {}

    def fake_run(plan, out, **options):
        seen["plan"], seen["command"] = plan, options["command"]
        row = {"final_mean": 0.5, "final_ci95": None, "steps_to_target": None}
        return {"groups": {"K-FAC digital": row}, "target_accuracy": 0.5, "step_time": {}}

    monkeypatch.setattr("thermospu.host_kfac.compare.run_comparison", fake_run)
    args = parse(["--plan", "mnist1d", "--steps", "50", "--seeds", "2", "--out", str(tmp_path)])
    compare_cli.run(args)
    plan = seen["plan"]
    assert (plan.dataset, plan.model, plan.channels, plan.hidden) == ("mnist1d", "cnn", (16, 16),
                                                                      (64,))
    assert plan.steps == 50 and plan.seeds == (0, 1) and plan.impairments == MNIST1D.impairments
    assert seen["command"] == "thermospu compare --plan mnist1d --steps 50 --seeds 2"
    compare_cli.run(parse(["--plan", "mnist1d", "--model", "mlp", "--batch-size", "64",
                           "--out", str(tmp_path)]))
    plan = seen["plan"]
    assert (plan.model, plan.channels, plan.hidden, plan.batch_size) == ("mlp", None, None, 64)
    compare_cli.run(parse(["--plan", "wide", "--hidden", "300", "--out", str(tmp_path)]))
    assert seen["plan"].hidden == (300,) and seen["plan"].split_blocks
    with pytest.raises(Exception, match="not both"):
        compare_cli.run(parse(["--quick", "--plan", "wide"]))


def test_the_cli_reads_impairment_sweeps_with_or_without_sizes():
    import argparse

    from thermospu.host_kfac.cli.compare import _impairment_sweep

    assert _impairment_sweep("adc_offset") == ("adc_offset", ())
    assert _impairment_sweep("coupling_mismatch=0.1,0.25") == ("coupling_mismatch", (0.1, 0.25))
    for bad in ("thermal_runaway", "noise_spread=-0.1", "noise_spread=0.1,x", "adc_offset=inf"):
        with pytest.raises(argparse.ArgumentTypeError):
            _impairment_sweep(bad)
