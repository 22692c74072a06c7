"""``thermospu costmodel``: the report's sections, overrides with units, and clear errors."""

from __future__ import annotations

import pytest

from thermospu.host_kfac.cli import main


def test_report_has_tables_and_writes_files(tmp_path, capsys):
    assert main(["costmodel", "--workload", "gnn-molpcba", "--out", str(tmp_path),
                 "--no-plots", "--set", "spu.tau_relax_s=100ns"]) == 0
    out = capsys.readouterr().out
    for heading in ("## Predicted per-step time and speedups", "## The FPGA emulation as an SPU",
                    "## Asymptotic exponents", "## Crossover width", "## Parameters"):
        assert heading in out
    assert "| gnn-molpcba |" in out and "vit-s16" not in out
    assert "| tau_relax_s | 1e-07 | s | set by the user |" in out
    assert (tmp_path / "report.md").read_text().startswith("# Cost-model report")


def test_fpga_rows_say_where_their_rate_comes_from(capsys):
    """Three FPGA rows: the boards' default builds and the ULX3S CI build (rates from the clock,
    which all three meet); a rate given with --set is said to be the user's."""
    assert main(["costmodel", "--workload", "digits-mlp", "--set",
                 "ecp5.steps_per_s=1e5"]) == 0
    out = capsys.readouterr().out
    assert ("### FPGA emulation, iCEBreaker default (N=32, P=2, 36 MHz; built, timing met): "
            "70,312 Euler steps/s (from the clock: 512 SPUCore cycles per step at 36 MHz)") in out
    assert ("### FPGA emulation, ULX3S default (N=128, P=64, 60 MHz; built, timing met): "
            "100,000 Euler steps/s (steps_per_s set by the user; 256 SPUCore cycles per step at "
            "60 MHz)") in out
    assert ("### FPGA emulation, ULX3S CI build (N=16, P=4, 60 MHz; built, timing met): 937,500 "
            "Euler steps/s (from the clock: 64 SPUCore cycles per step at 60 MHz)") in out
    assert "| one 16 x 16 layer |" in out and "### ecp5-ci: " in out
    assert "boards_bench.md), else" not in out


def test_plots_are_written(tmp_path):
    pytest.importorskip("matplotlib")
    assert main(["costmodel", "--workload", "gnn-molpcba", "--out", str(tmp_path)]) == 0
    for name in ("runtime_vs_width.png", "crossover_vs_tau.png"):
        assert (tmp_path / name).stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--set", "spu.tau_relax_s=1 Hz"], "unit"),
    (["--set", "spu.tau_relax_s=0"], "range"),
    (["--set", "gpu.matmul_flops_per_s=1"], "SCOPE"),
    (["--set", "spu.warp_factor=9"], "no parameter"),
    (["--workload", "resnet"], "unknown workload"),
])
def test_bad_arguments_give_a_clear_error(args, message, capsys):
    assert main(["costmodel", *args]) == 2
    assert message in capsys.readouterr().err


def test_list_parameters(capsys):
    assert main(["costmodel", "--list-parameters"]) == 0
    out = capsys.readouterr().out
    assert "| tau_relax_s | 1e-06 | s |" in out and "## " not in out.replace("### ", "")
