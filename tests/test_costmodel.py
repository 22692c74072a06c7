"""Cost model: fitted asymptotic exponents against the analytic ones, parameter validation and
units, and the bookkeeping the speedup table relies on."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from thermospu.host_kfac import costmodel as cm

REPO = Path(__file__).resolve().parent.parent

GPU, SPU = cm.GPU_A100, cm.ANALOG_SPU_PROJECTED
SCHEDULE, ACCURACY = cm.KFACSchedule(), cm.SolverAccuracy()


def _phase_seconds(optimizer: str, phase: str, width: int, spu=SPU) -> float:
    workload = cm.width_sweep_workload(width, rows=512)
    costs = cm.all_optimizers(workload, GPU, spu, SCHEDULE, ACCURACY, backprop=False)[optimizer]
    return costs.total_s if phase == "total" else costs.seconds[phase]


# Widths where every term but the leading one of each phase is below ~1 %: the model's per-call
# latencies and lower-order terms (e.g. m n**2 factors against n**3) fade as n grows.
PHASE_WIDTHS = [1 << 20, 1 << 21, 1 << 22, 1 << 23]


@pytest.mark.parametrize("key", [k for k in cm.ANALYTIC_EXPONENTS if k[1] != "total"],
                         ids=lambda k: f"{k[0]}-{k[1]}")
def test_phase_exponents_match_analytic(key):
    optimizer, phase = key
    seconds = [_phase_seconds(optimizer, phase, n) for n in PHASE_WIDTHS]
    assert cm.fit_exponent(PHASE_WIDTHS, seconds) == pytest.approx(cm.ANALYTIC_EXPONENTS[key],
                                                                    abs=0.03)


# Method 2's O(n) relaxations are the slowest term to fade; with nanosecond cells the totals
# reach their asymptotes within the widths the model takes.
FAST_SPU = dataclasses.replace(SPU, tau_relax_s=1e-9)
TOTAL_WIDTHS = [1 << 24, 1 << 25, 1 << 26]


@pytest.mark.parametrize("optimizer", ["kfac", "adam", "sgd", "thermo-m1", "thermo-m2",
                                       "thermo-m2-raw"])
def test_total_exponents_match_analytic(optimizer):
    seconds = [_phase_seconds(optimizer, "total", n, FAST_SPU) for n in TOTAL_WIDTHS]
    assert cm.fit_exponent(TOTAL_WIDTHS, seconds) == pytest.approx(
        cm.ANALYTIC_EXPONENTS[(optimizer, "total")], abs=0.03)


def test_total_exponent_approaches_analytic_from_below_with_slow_cells():
    """With microsecond cells Method 2's local slope is still rising towards 2 at n = 2^25."""
    slopes = [cm.fit_exponent(w, [_phase_seconds("thermo-m2", "total", n) for n in w])
              for w in ([1 << 14, 1 << 16], [1 << 20, 1 << 22], [1 << 24, 1 << 26])]
    assert slopes == sorted(slopes) and 1.0 <= slopes[0] and slopes[-1] < 2.0


def test_thermodynamic_advantage_grows_linearly_with_width():
    """The paper's claim, in the model: K-FAC time / Method 2 time ~ n at large n."""
    ratios = [_phase_seconds("kfac", "total", n, FAST_SPU)
              / _phase_seconds("thermo-m2", "total", n, FAST_SPU) for n in TOTAL_WIDTHS]
    assert cm.fit_exponent(TOTAL_WIDTHS, ratios) == pytest.approx(1.0, abs=0.03)


def test_fit_exponent_recovers_power_law_and_rejects_bad_input():
    assert cm.fit_exponent([1, 2, 4, 8], [3 * w**2.5 for w in (1, 2, 4, 8)]) == pytest.approx(2.5)
    with pytest.raises(cm.CostModelError):
        cm.fit_exponent([1], [1])


def test_digital_op_flop_counts():
    hw = dataclasses.replace(GPU, op_latency_s=0.0, factorization_latency_s=0.0,
                             memory_bytes_per_s=1e15)
    assert cm.digital_op_seconds(hw, "matmul", m=10, k=20, n=30) == pytest.approx(
        2 * 10 * 20 * 30 / hw.matmul_flops_per_s)
    assert cm.digital_op_seconds(hw, "eigh", n=100) == pytest.approx(9e6 / hw.eigh_flops_per_s)
    assert cm.digital_op_seconds(hw, "inverse", n=100) == pytest.approx(
        2e6 / hw.inverse_flops_per_s)
    with pytest.raises(cm.CostModelError, match="unknown digital operation"):
        cm.digital_op_seconds(hw, "qr", n=3)


def test_spu_sampling_follows_the_ou_autocorrelation():
    """Samples every dt of a mode relaxing in kappa*t_u: (1+rho)/(1-rho) per effective sample,
    so dense sampling costs 2 kappa t_u per effective sample, sparse sampling dt."""
    acc = cm.SolverAccuracy(condition_number=50, target_error=0.1, noise_to_signal=1.0)
    dense = cm.AnalogSPU(adc_rate_hz=1e11, tau_relax_s=1e-6)
    job = cm.spu_solve_seconds(dense, 64, acc)
    assert job["sampling"] == pytest.approx(100 * 2 * 50 * 1e-6, rel=1e-3)
    sparse = cm.AnalogSPU(adc_rate_hz=1e3, tau_relax_s=1e-9)
    job = cm.spu_solve_seconds(sparse, 64, acc)
    assert job["samples"] == 100 and job["sampling"] == pytest.approx(0.1, rel=1e-6)
    inv = cm.spu_inverse_seconds(sparse, 64, acc)
    assert inv["samples"] == math.ceil(65 / 0.01)
    assert inv["burn_in"] == pytest.approx(8 * 50 * 1e-9)


def test_method2_holds_half_the_factor_memory_and_no_cubic_term():
    w = cm.width_sweep_workload(4096)
    kfac = cm.kfac_step(w, GPU, cm.KFACSchedule(digital_method="inverse"))
    m2 = cm.thermo_kfac_step(w, GPU, SPU, method=2)
    momentum = 4096 * 4096 * 4
    assert (m2.memory_bytes - momentum) / (kfac.memory_bytes - momentum) == pytest.approx(0.5)
    assert "inversion" not in m2.seconds and "precondition" not in m2.seconds


def test_crossover_width_is_where_costs_cross_and_falls_with_faster_cells():
    fast = dataclasses.replace(SPU, tau_relax_s=1e-9)
    n_fast = cm.crossover_width(GPU, fast)
    n_slow = cm.crossover_width(GPU, SPU)
    assert n_fast is not None and n_slow is not None and n_fast < n_slow

    def gap(n):
        w = cm.width_sweep_workload(int(n), rows=512)
        return (cm.kfac_step(w, GPU, backprop=False).total_s
                - cm.thermo_kfac_step(w, GPU, fast, backprop=False).total_s)
    assert gap(n_fast) > 0 > gap(n_fast - 1)
    never = dataclasses.replace(SPU, tau_relax_s=1.0)
    assert cm.crossover_width(GPU, never, hi=1 << 14) is None


def test_layers_wider_than_the_spu_fall_back_to_digital():
    small = dataclasses.replace(SPU, cells=512)
    w = cm.Workload("mixed", (cm.Layer(256, 256, 64), cm.Layer(1024, 1024, 64)))
    costs = cm.thermo_kfac_step(w, GPU, small, method=2)
    assert costs.notes == ["1 of 2 layers exceed 512 cells and run digital K-FAC"]
    assert costs.seconds["inversion"] > 0 and costs.seconds["spu_burn_in"] > 0


def test_devices_divide_spu_time():
    w = cm.width_sweep_workload(1024)
    one = cm.thermo_kfac_step(w, GPU, SPU, method=2)
    four = cm.thermo_kfac_step(w, GPU, dataclasses.replace(SPU, devices=4), method=2)
    assert four.seconds["spu_burn_in"] == pytest.approx(one.seconds["spu_burn_in"] / 4)


def test_fpga_emulation_cycles_per_step_match_the_gateware():
    """The emulation row's cycles per step are the gateware's own schedule
    (rtl.gateware.core.step_cycles, imported by the cost model and measured in docs/cycles.md)
    for the emulation's cells and lanes: e.g. N=32: 1024, 128, 37 cycles at P = 1, 8, 32; a
    sample with second moments (moment lanes = lanes) takes no longer than a step."""
    from thermospu.rtl.spec.config import SPUConfig
    from thermospu.rtl.gateware.core import step_cycles

    for cells, lanes in ((32, 1), (32, 8), (32, 32), (8, 8), (4, 2), (16, 4)):
        emu = cm.EmulatedSPU(cells=cells, lanes=lanes, scale_to_width=False)
        assert emu.cycles_per_step(cells) == step_cycles(SPUConfig(n=cells, lanes=lanes), cells)
    assert cm.EmulatedSPU(cells=32, lanes=32, scale_to_width=False).cycles_per_step(32) == 37
    for n, lanes in ((1, 1), (2, 1), (2, 2), (5, 2), (64, 8), (1 << 20, 32)):
        emu = cm.EmulatedSPU(lanes=lanes)
        assert emu.cycles_per_sample(n, moments=True) == emu.cycles_per_step(n)
        assert emu.sample_interval_s(n, moments=True) == emu.step_seconds(n)
    ice40 = cm.FPGA_ICE40_EMULATION
    assert ice40.step_seconds(32) == pytest.approx(512 / 36e6)
    # scaled to a wider problem at the same clock and lanes: cycles ~ n**2 / P
    assert ice40.step_seconds(64) == pytest.approx(64 * 64 / 2 / 36e6)
    measured = dataclasses.replace(ice40, steps_per_s=1e5)
    assert measured.step_seconds(32) == pytest.approx(1e-5)
    assert not dataclasses.replace(ice40, scale_to_width=False).fits(33)


def test_fpga_presets_are_the_boards_builds():
    """The FPGA rows are read from the boards' Board records: cells, lanes, widths, sample
    budget, clock, UART and second-moment lanes of each default build, and the ULX3S CI build
    (the board's default with N=16, P=4, M=2) that docs/boards.md measured."""
    from thermospu.boards.board import get_board
    from thermospu.rtl.gateware.core import step_cycles

    ci_config = get_board("ulx3s").config_with(n=16, lanes=4)
    for emu, name, config in ((cm.FPGA_ICE40_EMULATION, "icebreaker", None),
                              (cm.FPGA_ECP5_EMULATION, "ulx3s", None),
                              (cm.FPGA_ECP5_CI_EMULATION, "ulx3s", ci_config)):
        board = get_board(name)
        config = config or board.config
        assert (emu.cells, emu.lanes) == (config.n, config.lanes), emu.name
        assert (emu.dac_bits, emu.adc_bits) == (config.a_bits, config.out_bits), emu.name
        assert emu.max_samples_log2 == config.max_samples_log2, emu.name
        assert emu.clock_hz == board.clock_hz, emu.name
        assert emu.link_bytes_per_s == board.baud / 10, emu.name      # 8N1: 10 bits a byte
        assert emu.cycles_per_step(emu.cells) == step_cycles(config, config.n), emu.name
        assert f"N={config.n}, P={config.lanes}, {board.clock_hz / 1e6:g} MHz" in emu.name
        if emu is not cm.FPGA_ECP5_CI_EMULATION:
            assert emu.moment_lanes == board.moment_lanes_for(config), emu.name
    # all three are built and meet their clocks (docs/boards.md), so their rates are the clock's:
    # the ULX3S CI build 64 cycles per step at 60 MHz = 9.38e5 steps/s
    for emu in (cm.FPGA_ICE40_EMULATION, cm.FPGA_ECP5_EMULATION, cm.FPGA_ECP5_CI_EMULATION):
        assert emu.steps_per_s is None and "timing met" in emu.name, emu.name
    ci = cm.FPGA_ECP5_CI_EMULATION
    assert ci.cycles_per_step(16) == 64
    # CI builds two second-moment lanes: a sample with moments takes a pass of 16 + 14 + ... + 2
    # = 72 cycles, more than a step.
    assert ci.moment_lanes == 2 and ci.cycles_per_sample(16, moments=True) == 72
    # The ULX3S default: P = 64, M = 32, a pass 128 + 96 + 64 + 32 = 320 cycles, a step 256.
    ecp5 = cm.FPGA_ECP5_EMULATION
    assert ecp5.cycles_per_step(128) == 256 and ecp5.cycles_per_sample(128, moments=True) == 320
    assert 1 / ci.step_seconds(16) == pytest.approx(60e6 / 64, rel=1e-3)


def test_workload_shapes():
    vit = cm.WORKLOADS["vit-s16"]
    assert len(vit.layers) == 12 * 4 + 2
    assert vit.layers[1].a == 385 and vit.layers[1].g == 1152 and vit.layers[1].rows == 1024 * 197
    # ViT-S/16 has ~22 M parameters, nearly all of them in these layers
    assert 21e6 < vit.parameters < 23e6
    assert len(cm.WORKLOADS["gnn-molpcba"].layers) == 5 * 3 * 2


# --- validation and units ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(d_in=0, d_out=4, rows=1), dict(d_in=4, d_out=0, rows=1),
                                    dict(d_in=4, d_out=4, rows=0), dict(d_in=4.5, d_out=4, rows=1),
                                    dict(d_in=True, d_out=4, rows=1),
                                    dict(d_in=1 << 30, d_out=4, rows=1)])
def test_zero_and_bad_layer_sizes_raise(kwargs):
    with pytest.raises(cm.CostModelError, match="Layer"):
        cm.Layer(**kwargs)


def test_empty_workload_raises():
    with pytest.raises(cm.CostModelError, match="no layers"):
        cm.Workload("empty", ())
    with pytest.raises(cm.CostModelError):
        cm.width_sweep_workload(0)


@pytest.mark.parametrize("cls, field, value", [
    (cm.AnalogSPU, "tau_relax_s", 0.0), (cm.AnalogSPU, "tau_relax_s", 5.0),
    (cm.AnalogSPU, "tau_relax_s", float("nan")), (cm.AnalogSPU, "cells", 0),
    (cm.AnalogSPU, "devices", 2.5), (cm.AnalogSPU, "adc_rate_hz", 1e15),
    (cm.AnalogSPU, "link_bytes_per_s", -1.0), (cm.AnalogSPU, "dac_bits", "8"),
    (cm.DigitalHardware, "matmul_flops_per_s", 1e30), (cm.DigitalHardware, "op_latency_s", -1e-6),
    (cm.SolverAccuracy, "condition_number", 0.5), (cm.SolverAccuracy, "target_error", 1.5),
    (cm.SolverAccuracy, "target_error", 0.0), (cm.KFACSchedule, "inverse_interval", 0),
    (cm.EmulatedSPU, "lanes", 0), (cm.EmulatedSPU, "clock_hz", float("inf")),
])
def test_absurd_parameters_raise_with_unit_and_range(cls, field, value):
    with pytest.raises(cm.CostModelError) as info:
        cls(**{field: value})
    assert field in str(info.value)


def test_unknown_methods_raise():
    with pytest.raises(cm.CostModelError, match="digital_method"):
        cm.KFACSchedule(digital_method="cholesky")
    with pytest.raises(cm.CostModelError, match="method must be 1"):
        cm.thermo_kfac_step(cm.width_sweep_workload(8), GPU, SPU, method=3)


@pytest.mark.parametrize("text, unit, value", [
    ("1 us", "s", 1e-6), ("1us", "s", 1e-6), ("2.5ns", "s", 2.5e-9), ("25 GB/s", "B/s", 25e9),
    ("10MS/s", "S/s", 1e7), ("1e-6", "s", 1e-6), ("100", "1", 100.0), ("36 MHz", "Hz", 36e6),
    ("19.5 TFLOP/s", "FLOP/s", 19.5e12)])
def test_parse_quantity(text, unit, value):
    assert cm.parse_quantity(text, unit) == pytest.approx(value)


@pytest.mark.parametrize("text, unit", [("1 Hz", "s"), ("3 GB", "B/s"), ("fast", "s"),
                                        ("5 xs", "s"), ("2 ms", "1")])
def test_parse_quantity_rejects_wrong_units(text, unit):
    with pytest.raises(cm.CostModelError):
        cm.parse_quantity(text, unit)


def test_overrides_parse_units_and_reject_unknown_names():
    spu = cm.with_overrides(SPU, {"tau_relax_s": "10 ns", "cells": "4096", "devices": 2})
    assert spu.tau_relax_s == pytest.approx(1e-8) and spu.cells == 4096 and spu.devices == 2
    assert cm.with_overrides(spu, {"cells": "none"}).cells is None
    with pytest.raises(cm.CostModelError, match="no parameter"):
        cm.with_overrides(SPU, {"tau": "1 us"})
    with pytest.raises(cm.CostModelError, match="range"):
        cm.with_overrides(SPU, {"tau_relax_s": "1 ks"})


def test_every_parameter_documents_unit_and_source():
    for profile in (GPU, SPU, cm.FPGA_ECP5_EMULATION, SCHEDULE, ACCURACY):
        for name, value, unit, source in cm.parameter_table(profile):
            assert unit and source, name


def test_calibrated_profile_file_loads():
    path = REPO / "docs" / "costmodel" / "calibration_cpu.json"
    if not path.exists():
        pytest.skip("docs/costmodel/calibration_cpu.json not generated "
                    "(run bench/bench_costmodel_calibration.py)")
    hw = cm.DigitalHardware(**json.loads(path.read_text()))
    assert hw.matmul_flops_per_s > hw.eigh_flops_per_s


def test_raw_factors_skip_host_factors_and_respect_max_rows():
    w = cm.Workload("two", (cm.Layer(256, 256, 1024, name="small"),
                            cm.Layer(256, 256, 8192, name="many-rows")))
    built = cm.thermo_kfac_step(w, GPU, SPU, method=2)
    raw = cm.thermo_kfac_step(w, GPU, SPU, method=2, raw_factors=True)
    assert "factors" not in raw.seconds and raw.seconds["spu_load"] > built.seconds["spu_load"]
    assert raw.memory_bytes < built.memory_bytes
    limited = cm.thermo_kfac_step(w, GPU, dataclasses.replace(SPU, max_rows=4096), method=2,
                                  raw_factors=True)
    assert limited.notes == ["1 of 2 layers have more than 4096 rows and build their factors "
                             "digitally"]
    assert 0 < limited.seconds["factors"] < built.seconds["factors"]
    with pytest.raises(cm.CostModelError, match="Method 2 only"):
        cm.thermo_kfac_step(w, GPU, SPU, method=1, raw_factors=True)


def test_overlap_charges_only_the_spu_time_the_host_cannot_hide():
    w = cm.WORKLOADS["vit-b16"]
    serial = cm.thermo_kfac_step(w, GPU, cm.ANALOG_SPU_WHATIF, method=2)
    hidden = cm.thermo_kfac_step(w, GPU, cm.ANALOG_SPU_WHATIF, method=2, overlap=True)
    spu = sum(v for k, v in serial.seconds.items() if k.startswith("spu_"))
    host = serial.total_s - spu
    assert hidden.total_s == pytest.approx(max(host, spu))
    slow = cm.thermo_kfac_step(w, GPU, SPU, method=2, overlap=True)
    assert slow.total_s == pytest.approx(
        sum(v for k, v in cm.thermo_kfac_step(w, GPU, SPU, method=2).seconds.items()
            if k.startswith("spu_")))
