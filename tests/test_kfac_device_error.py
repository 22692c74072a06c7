"""The SPU solvers' device-error log (``measure_error=True``): records, checkpoints, summaries,
and the training metrics that carry them."""

from __future__ import annotations

import dataclasses
import io
import pytest
import torch
import torch.nn.functional as F

from kfac_helpers import ExactDevice, tiny_batch, tiny_net
from thermospu.host_kfac.preconditioner import KFACPreconditioner
from thermospu.host_kfac.solvers import (DeviceErrorRecord, device_error_summary,
                                         thermodynamic_solver)


class NoisyDevice(ExactDevice):
    """Exact answers times ``(1 + error)``: a device whose relative error is known exactly."""

    def __init__(self, error: float, **options):
        super().__init__(**options)
        self.error = error

    def inv_with_info(self, A, **options):
        inverse, info = super().inv_with_info(A, **options)
        return inverse * (1 + self.error), info

    def solve_with_info(self, A, b, **options):
        x, info = super().solve_with_info(A, b, **options)
        return x * (1 + self.error), info


def run_steps(solver, steps=3):
    model = tiny_net()
    pre = KFACPreconditioner(model, solver, damping=0.05, inv_update_interval=2)
    x, y = tiny_batch()
    for _ in range(steps):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        pre.step()
    return pre


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_every_device_answer_is_logged_with_its_relative_error(method):
    pre = run_steps(thermodynamic_solver(NoisyDevice(0.01, n=16), method, measure_error=True))
    records = pre.solver.error_records
    # Method 1: 2 inverse updates (steps 0 and 2) x 2 layers x (A, G);
    # Method 2: 3 steps x 2 layers x (G solve, A solve).
    assert len(records) == (8 if method == "inverse" else 12)
    assert all(isinstance(r, DeviceErrorRecord) for r in records)
    assert {(r.layer, r.kind, r.n) for r in records} == {
        ("0", "A", 9), ("0", "G", 3), ("3", "A", 13), ("3", "G", 4)}
    assert sorted({r.index for r in records}) == ([0, 1] if method == "inverse" else [0, 1, 2])
    for r in records:
        assert r.relative_error == pytest.approx(0.01, rel=1e-9)
        assert r.euler_steps == 100 * r.n                 # ExactDevice's diagnostics
    summary = device_error_summary(records)
    assert summary["count"] == len(records)
    assert summary["median"] == pytest.approx(0.01) and summary["p90"] == pytest.approx(0.01)
    assert summary["A"]["count"] == summary["G"]["count"] == len(records) // 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        records[0].relative_error = 0.0


def test_logging_is_off_by_default_and_costs_nothing_in_answers():
    plain = run_steps(thermodynamic_solver(NoisyDevice(0.01, n=16), "inverse"))
    measured = run_steps(thermodynamic_solver(NoisyDevice(0.01, n=16), "inverse",
                                              measure_error=True))
    assert plain.solver.error_records == [] and device_error_summary([]) == {}
    for name in plain.layers:
        a, b = plain.solver._inverses[name], measured.solver._inverses[name]
        assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_split_blocks_measure_against_the_block_diagonal_part():
    pre = run_steps(thermodynamic_solver(NoisyDevice(0.02, n=5), "inverse", split_blocks=True,
                                         measure_error=True), steps=1)
    assert [r.n for r in pre.solver.error_records] == [9, 3, 13, 4]
    for r in pre.solver.error_records:
        assert r.relative_error == pytest.approx(0.02, rel=1e-9)


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_records_survive_a_checkpoint(method):
    pre = run_steps(thermodynamic_solver(NoisyDevice(0.01, n=16), method, measure_error=True))
    buffer = io.BytesIO()
    torch.save(pre.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = run_steps(thermodynamic_solver(NoisyDevice(0.01, n=16), method, measure_error=True),
                      steps=0)
    fresh.load_state_dict(state)
    assert fresh.solver.error_records == pre.solver.error_records
    assert fresh.solver._calls == pre.solver._calls


def test_the_emulated_spu_error_falls_with_more_bits():
    import thermospu.driver as driver

    def median_error(bits, samples):
        device = driver.open("model", n=13, a_bits=bits, b_bits=bits, out_bits=bits)
        solver = thermodynamic_solver(device, "inverse", samples=samples, fallback=False,
                                      measure_error=True)
        return device_error_summary(run_steps(solver, steps=1).solver.error_records)["median"]

    coarse, fine = median_error(6, 500), median_error(12, 8000)
    assert 0 < fine < coarse, (coarse, fine)


def test_training_metrics_carry_the_records_and_their_summary():
    from thermospu.host_kfac.train import TrainConfig, train
    cfg = TrainConfig(solver="spu", samples=700, steps=2, eval_every=2, inv_update_interval=2,
                      measure_error=True)
    metrics = train(cfg, progress=False)
    assert len(metrics["device_errors"]) == 4             # 1 inverse update x 2 layers x A, G
    assert metrics["device_error"]["count"] == 4
    assert 0 < metrics["device_error"]["median"] <= metrics["device_error"]["p90"]
    plain = train(dataclasses.replace(cfg, measure_error=False), progress=False)
    assert "device_errors" not in plain
    assert plain["loss"] == metrics["loss"]               # measuring changes no answer
