"""K-FAC updates against the dense Kronecker formula; the SPU solver against the digital one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kfac_helpers import ExactDevice, tiny_batch, tiny_net
from thermospu.driver.errors import DeviceCapacityError, DeviceError
from thermospu.host_kfac.capture import layer_gradient_matrix
from thermospu.host_kfac.preconditioner import KFACPreconditioner
from thermospu.host_kfac.solvers import (DigitalSolver, ThermodynamicInverseSolver,
                                         ThermodynamicLinsolveSolver, block_ranges,
                                         thermodynamic_solver)


def preconditioned_step(solver, damping=0.05, pi_adjust=True):
    """One K-FAC step on the tiny net: returns (preconditioner, raw gradients, new gradients)."""
    net = tiny_net()
    pre = KFACPreconditioner(net, solver, damping=damping, kl_clip=None, pi_adjust=pi_adjust)
    x, y = tiny_batch()
    F.cross_entropy(net(x), y).backward()
    raw = {n: layer_gradient_matrix(l.module).clone() for n, l in pre.layers.items()}
    pre.step()
    new = {n: layer_gradient_matrix(l.module).clone() for n, l in pre.layers.items()}
    return pre, raw, new


def dense_kronecker_update(a_d, g_d, v):
    """(A_d ⊗ G_d)^-1 vec(V) with column-major vec, built as a dense matrix."""
    a_d, g_d, v = (t.double().numpy() for t in (a_d, g_d, v))
    fisher = np.kron(a_d, g_d)
    u = np.linalg.solve(fisher, v.reshape(-1, order="F"))
    return torch.from_numpy(u.reshape(v.shape, order="F"))


@pytest.mark.parametrize("method", ["cholesky", "eigen"])
@pytest.mark.parametrize("pi_adjust", [True, False])
def test_digital_update_equals_dense_kronecker_formula(method, pi_adjust):
    pre, raw, new = preconditioned_step(DigitalSolver(method), pi_adjust=pi_adjust)
    for name in pre.layers:
        a_d, g_d = pre.damped_factors(name)
        want = dense_kronecker_update(a_d, g_d, raw[name])
        torch.testing.assert_close(new[name].double(), want, rtol=2e-4, atol=1e-6)


def test_damping_split_and_pi():
    pre, _, _ = preconditioned_step(DigitalSolver(), damping=0.09)
    layer = pre.layers["3"]
    pi = np.sqrt((torch.trace(layer.A).item() / layer.a_dim) / (torch.trace(layer.G).item() / layer.g_dim))
    a_d, g_d = pre.damped_factors("3")
    torch.testing.assert_close(torch.diagonal(a_d - layer.A), torch.full((13,), 0.3 * float(pi)))
    torch.testing.assert_close(torch.diagonal(g_d - layer.G), torch.full((4,), 0.3 / float(pi)))


def test_cholesky_retries_in_float64(monkeypatch):
    # Make every float32 factorization report failure (as a near-singular factor does) and check
    # that the float64 retry's inverse is the one used, in the factor's dtype.
    real = torch.linalg.cholesky_ex

    def float32_fails(matrix):
        chol, info = real(matrix)
        return chol, (info + 1 if matrix.dtype == torch.float32 else info)

    monkeypatch.setattr(torch.linalg, "cholesky_ex", float32_fails)
    solver = DigitalSolver()
    a = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
    solver.update("layer", a, torch.eye(1) * 2)
    v = torch.tensor([[1.0, 2.0]])
    want = (v.double() / 2 @ torch.linalg.inv(a.double())).float()
    got = solver.precondition("layer", v)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)
    assert solver.metrics["float64_retries"] == 2 and solver.metrics["inverse_failures"] == 0


def test_failed_inversion_keeps_previous_inverse():
    solver = DigitalSolver()
    good = torch.eye(3) * 2
    solver.update("layer", torch.eye(6) * 4, good)
    v = torch.ones(3, 6)
    torch.testing.assert_close(solver.precondition("layer", v), v / 8)
    for bad in (torch.full((6, 6), float("nan")), -torch.eye(6)):
        with pytest.warns(RuntimeWarning, match="keeping the previous preconditioner"):
            solver.update("layer", bad, good)
        torch.testing.assert_close(solver.precondition("layer", v), v / 8)
    assert solver.metrics["inverse_failures"] == 2


def test_gradient_passes_unchanged_before_first_update():
    v = torch.randn(3, 5)
    assert torch.equal(DigitalSolver().precondition("never", v), v)
    assert torch.equal(ThermodynamicLinsolveSolver(ExactDevice()).precondition("never", v), v)


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_thermodynamic_solver_with_exact_device_matches_digital(method):
    _, _, digital = preconditioned_step(DigitalSolver())
    device = ExactDevice(n=16)
    pre, _, thermo = preconditioned_step(thermodynamic_solver(device, method))
    for name in digital:
        torch.testing.assert_close(thermo[name], digital[name], rtol=1e-4, atol=1e-6)
    kinds = {kind for kind, _, _ in device.calls}
    assert kinds == ({"inv"} if method == "inverse" else {"solve"})
    # Method 1: 2 inversions per layer; Method 2: 2 solves per layer (the step's gradient).
    assert len(device.calls) == 4
    seeds = [seed for _, _, seed in device.calls]
    assert len(set(seeds)) == len(seeds)
    assert pre.solver.metrics["device_jobs"] == 4
    assert pre.solver.metrics["spu_steps"] == sum(100 * n for _, n, _ in device.calls)
    # Method 2 loads each damped factor once per inverse update and reuses it every step.
    assert device.loads == (0 if method == "inverse" else 4)
    pre.solver.precondition("3", torch.ones(4, 13))
    assert device.loads == (0 if method == "inverse" else 4)


def test_factor_larger_than_device_is_a_clear_error():
    with pytest.raises(DeviceCapacityError, match=r"N=8.*'0' \(A 9x9.*split_blocks=True"):
        KFACPreconditioner(tiny_net(), ThermodynamicInverseSolver(ExactDevice(n=8)))


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_split_blocks_solves_the_block_diagonal_part(method):
    device = ExactDevice(n=5)
    pre, raw, new = preconditioned_step(thermodynamic_solver(device, method, split_blocks=True))
    assert max(n for _, n, _ in device.calls) <= 5
    for name in pre.layers:
        a_d, g_d = (m.double() for m in pre.damped_factors(name))
        blocks = []
        for m in (a_d, g_d):
            mask = torch.zeros_like(m)
            for start, stop in block_ranges(len(m), 5):
                mask[start:stop, start:stop] = 1
            blocks.append(m * mask)
        want = torch.linalg.solve(blocks[1], raw[name].double()) @ torch.linalg.inv(blocks[0])
        torch.testing.assert_close(new[name].double(), want, rtol=1e-4, atol=1e-6)


def test_block_ranges():
    assert block_ranges(13, 5) == [(0, 4), (4, 9), (9, 13)]
    assert block_ranges(4, 5) == [(0, 4)]


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_device_failure_falls_back_to_digital_with_warning_and_counter(method):
    _, _, digital = preconditioned_step(DigitalSolver())
    device = ExactDevice(n=16, fail_on={1})
    with pytest.warns(RuntimeWarning, match="device failed.*injected failure"):
        pre, _, thermo = preconditioned_step(thermodynamic_solver(device, method))
    assert pre.solver.metrics["fallbacks"] == 1
    assert pre.solver.metrics["fallbacks_DeviceError"] == 1
    for name in digital:
        torch.testing.assert_close(thermo[name], digital[name], rtol=1e-4, atol=1e-6)
    with pytest.raises(DeviceError, match="injected"):
        preconditioned_step(thermodynamic_solver(ExactDevice(n=16, fail_on={0}), method,
                                                 fallback=False))


def test_solver_options_are_validated():
    with pytest.raises(ValueError, match="Method 1"):
        thermodynamic_solver(ExactDevice(), "cg")
    with pytest.raises(ValueError, match="samples"):
        ThermodynamicInverseSolver(ExactDevice(), samples=0)
    with pytest.raises(ValueError, match="not both"):
        ThermodynamicInverseSolver(ExactDevice(), samples=100, tol=0.1)
    with pytest.raises(ValueError, match="cholesky"):
        DigitalSolver("lu")


def spu_update_error(in_bits, out_bits, samples, method, seed=0):
    """Relative Frobenius error of the SPU solver's preconditioned gradients against the
    digital solver's, on the tiny net, with the emulated SPU (golden model)."""
    import thermospu.driver as driver
    _, _, digital = preconditioned_step(DigitalSolver(), damping=0.1)
    device = driver.open("model", n=13, a_bits=in_bits, b_bits=in_bits, out_bits=out_bits)
    solver = thermodynamic_solver(device, method, samples=samples, seed=seed, fallback=False)
    _, _, thermo = preconditioned_step(solver, damping=0.1)
    num = sum(float(((thermo[n] - digital[n]) ** 2).sum()) for n in digital)
    den = sum(float((digital[n] ** 2).sum()) for n in digital)
    return np.sqrt(num / den)


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_thermodynamic_update_converges_to_digital(method):
    # Low precision and few samples, then more bits and 16x the samples: the statistical part of
    # the error shrinks ~4x and the quantization part with the bits. Seeds fixed; the margins
    # (factor 2.5 and the absolute bounds) hold for every seed in 0..9 when this was written.
    coarse = spu_update_error(6, 6, 500, method)
    fine = spu_update_error(12, 12, 8000, method)
    assert fine < coarse / 2.5, (coarse, fine)
    assert fine < (0.12 if method == "inverse" else 0.05), fine
