"""The experiment commands end to end on short runs: files written, keys present, SPU used."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from thermospu.host_kfac.cli import train as train_cli
from thermospu.host_kfac.compare import ComparisonPlan, run_comparison
from thermospu.host_kfac.data import load_dataset
from thermospu.host_kfac.models import build_model
from thermospu.host_kfac.preconditioner import KFACPreconditioner


def main(argv) -> int:
    """``thermospu train ARGS`` without going through the CLI's dispatch table."""
    assert argv[0] == "train"
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    return train_cli.run(parser.parse_args(argv[1:]))


def test_train_cli_writes_metrics_and_plots(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "6", "--eval-every", "3", "--out", str(out),
                 "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["loss"]) == 6 and metrics["eval_steps"] == [3, 6]
    assert 0.3 < metrics["final_test_accuracy"] <= 1.0     # 10 classes: chance is 0.1
    assert metrics["config"]["optimizer"] == "kfac" and metrics["config"]["solver"] == "digital"
    for png in ("loss.png", "accuracy.png"):
        assert (out / png).stat().st_size > 1000
    assert "A 65x65" in capsys.readouterr().out


def test_train_cli_on_the_emulated_spu(tmp_path, capsys):
    out = tmp_path / "spu"
    assert main(["train", "--solver", "spu", "--method", "inverse", "--in-bits", "8",
                 "--out-bits", "8", "--samples", "200", "--steps", "3", "--eval-every", "3",
                 "--inv-update-interval", "2", "--factor-update-interval", "2", "--out", str(out),
                 "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    solver = metrics["solver_metrics"]
    assert solver["device_jobs"] == 8            # 2 inverse updates x 2 layers x (A, G)
    assert metrics["spu_steps"][-1] == solver["spu_steps"] > 0
    assert solver["fallbacks"] == 0
    assert "emulated SPU" in metrics["device"]
    assert "SPU: 8 jobs" in capsys.readouterr().out


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_datasets_and_models_are_offline_and_factored(dataset):
    state = np.random.get_state()[1].copy()
    data = load_dataset(dataset)
    assert np.array_equal(np.random.get_state()[1], state)   # no global RNG side effects
    assert len(data.x_train) == {"digits": 1437, "mnist1d": 4000}[dataset]
    assert torch.equal(load_dataset(dataset).x_test, data.x_test)
    for name in ("mlp", "cnn"):
        model = build_model(name, data.features, data.classes, data.image_shape)
        assert model(data.x_test[:2]).shape == (2, 10)
        kfac = KFACPreconditioner(model)
        assert kfac.unsupported == {}
        assert len(kfac.layers) == (2 if name == "mlp" else 3)


def test_comparison_report(tmp_path):
    plan = ComparisonPlan(steps=4, eval_every=2, seeds=(0, 1), adam_lrs=(3e-3,), sgd_lrs=(0.1,),
                          methods=("inverse",), bits=(4,), samples=200, timing_steps=2)
    summary = run_comparison(plan, tmp_path, jobs=1, progress=False, cache_dir=tmp_path / "cache")
    groups = summary["groups"]
    assert set(groups) == {"adam lr=0.003", "sgd lr=0.1", "K-FAC digital",
                           "K-FAC SPU M1 inverse 8/8", "sweep in 4", "sweep out 4"}
    assert groups["K-FAC SPU M1 inverse 8/8"]["spu_steps_per_step"] > 0
    assert summary["target_group"] == "adam lr=0.003"
    assert summary["step_time"]["K-FAC digital"]["ratio"] > 0
    report = (tmp_path / "report.md").read_text()
    for heading in ("## All optimizers", "## Thermodynamic K-FAC at 8-bit", "## Accuracy vs bits",
                    "## Step time"):
        assert heading in report
    for png in ("test_accuracy.png", "train_loss.png", "accuracy_vs_bits.png"):
        assert (tmp_path / png).stat().st_size < 200_000
    assert len(list((tmp_path / "cache").glob("*.json"))) == 12


def test_model_options_reach_the_model_and_metrics(tmp_path):
    out = tmp_path / "cnn"
    assert main(["train", "--model", "cnn", "--channels", "4", "6", "--hidden", "12",
                 "--activation", "relu", "--steps", "2", "--eval-every", "2", "--batch-size",
                 "16", "--out", str(out), "--no-progress"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["channels"], config["hidden"], config["activation"]) == ([4, 6], [12], "relu")
    assert config["batch_size"] == 16 and config["nproc"] == 1
    assert "A 10x10, G 4x4" in metrics["kfac_layers"]              # Conv2d 3x3 of 1 channel
    assert "A 97x97, G 12x12" in metrics["kfac_layers"]            # 6 channels x 4 x 4 + 1

    data = load_dataset("digits")
    model = build_model("mlp", data.features, data.classes, data.image_shape, hidden=(20, 10),
                        activation="gelu")
    assert [m.out_features for m in model if isinstance(m, torch.nn.Linear)] == [20, 10, 10]
    assert sum(isinstance(m, torch.nn.GELU) for m in model) == 2


def test_the_cnn_on_mnist1d_is_conv1d():
    model = build_model("cnn", 40, 10, (1, 1, 40), channels=(4, 4, 4))
    convs = [m for m in model if isinstance(m, torch.nn.Conv1d)]
    assert len(convs) == 3 and model(torch.zeros(2, 40)).shape == (2, 10)
    with pytest.raises(ValueError, match="leave no output"):
        build_model("cnn", 40, 10, (1, 1, 40), channels=(4, 4, 4, 4))


def test_the_comparison_passes_model_options_to_every_run():
    from thermospu.host_kfac.cli import compare as compare_cli
    from thermospu.host_kfac.compare import QUICK, plan_runs

    plan = dataclasses.replace(QUICK, model="cnn", channels=(4,), hidden=(16,), activation="gelu",
                               batch_size=64, inv_update_interval=5, device="model?n=200")
    runs = plan_runs(plan)
    assert len(runs) == 4
    for _, cfg in runs:
        assert (cfg.model, cfg.channels, cfg.hidden, cfg.activation, cfg.batch_size,
                cfg.inv_update_interval) == ("cnn", (4,), (16,), "gelu", 64, 5)
    assert [cfg.device for _, cfg in runs if cfg.solver == "spu"] == ["model?n=200"]
    parser = argparse.ArgumentParser()
    compare_cli.add_arguments(parser)
    args = parser.parse_args(["--quick", "--model", "cnn", "--channels", "4", "--hidden", "16",
                              "--batch-size", "64", "--device", "model?n=200"])
    assert compare_cli._command_line(args) == ("thermospu compare --quick --model cnn --hidden 16 "
                                               "--channels 4 --batch-size 64 --device model?n=200")
