"""The preconditioner loop: intervals, KL-clipping, checkpoints that resume identically, NaNs."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from kfac_helpers import ExactDevice, tiny_batch, tiny_net
from thermospu.host_kfac.capture import layer_gradient_matrix
from thermospu.host_kfac.optimizer import KFAC
from thermospu.host_kfac.preconditioner import KFACPreconditioner
from thermospu.host_kfac.solvers import (DigitalSolver, ThermodynamicInverseSolver,
                                         thermodynamic_solver)


def batches(count, start=0):
    return [tiny_batch(seed=100 + start + i, batch=8) for i in range(count)]


def train_steps(net, optimizer, data, fisher="empirical"):
    for x, y in data:
        optimizer.zero_grad()
        logits = net(x)
        if fisher == "mc":
            optimizer.sample_fisher(logits)
        F.cross_entropy(logits, y).backward()
        optimizer.step()


def spu_solver(method):
    import thermospu.driver as driver
    return thermodynamic_solver(driver.open("model", n=13, a_bits=8, b_bits=8, out_bits=8),
                                method, samples=200, seed=7, fallback=False)


SOLVERS = {
    "digital": lambda: DigitalSolver(),
    "spu-inverse": lambda: spu_solver("inverse"),
    "spu-linsolve": lambda: spu_solver("linsolve"),
}


@pytest.mark.parametrize("solver, fisher", [
    ("digital", "empirical"), ("digital", "mc"), ("spu-inverse", "empirical"),
    ("spu-inverse", "mc"), ("spu-linsolve", "empirical")])
def test_resume_from_checkpoint_continues_identically(solver, fisher):
    options = dict(lr=0.05, damping=0.05, inv_update_interval=4, factor_update_interval=2,
                   fisher=fisher)
    net = tiny_net()
    opt = KFAC(net, solver=SOLVERS[solver](), **options)
    train_steps(net, opt, batches(6), fisher)     # 6 steps: the next inverse update is at 8
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, buffer)
    train_steps(net, opt, batches(5, start=6), fisher)

    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=False)
    resumed = tiny_net(seed=99)
    resumed.load_state_dict(checkpoint["model"])
    opt2 = KFAC(resumed, solver=SOLVERS[solver](), **options)
    opt2.load_state_dict(checkpoint["optimizer"])
    train_steps(resumed, opt2, batches(5, start=6), fisher)

    for p, q in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert opt.preconditioner.steps == opt2.preconditioner.steps == 11
    assert opt.preconditioner.solver.metrics == opt2.preconditioner.solver.metrics


def test_checkpoint_of_another_solver_is_refused():
    opt = KFAC(tiny_net(), solver=DigitalSolver())
    other = KFAC(tiny_net(), solver=ThermodynamicInverseSolver(ExactDevice()))
    with pytest.raises(ValueError, match="digital-cholesky"):
        other.load_state_dict(opt.state_dict())


def test_nan_gradient_does_not_corrupt_kfac_state():
    net = tiny_net()
    pre = KFACPreconditioner(net, damping=0.05, inv_update_interval=1)
    sgd = torch.optim.SGD(net.parameters(), lr=0.05)
    for i, (x, y) in enumerate(batches(6)):
        sgd.zero_grad()
        logits = net(x)
        if i == 3:
            logits = logits + torch.tensor(float("nan"))   # NaN through every output gradient
        F.cross_entropy(logits, y).backward()
        if i == 3:
            with pytest.warns(RuntimeWarning, match="non-finite"):
                pre.step()
            for p in net.parameters():
                p.grad = None                     # the user's guard: skip the poisoned step
            continue
        pre.step()
        sgd.step()
    assert pre.capture.nonfinite_batches == 2          # G of both layers at step 3
    assert pre.metrics["nonfinite_gradients"] == 2
    for layer in pre.layers.values():
        assert torch.isfinite(layer.A).all() and torch.isfinite(layer.G).all()
    for inverse in pre.solver.state_dict()["inverses"].values():
        assert all(torch.isfinite(t).all() for t in inverse)
    for p in net.parameters():
        assert torch.isfinite(p).all()


def test_kl_clipping_scales_by_the_formula():
    x, y = tiny_batch()
    free = KFACPreconditioner(tiny_net(), kl_clip=None, damping=0.05)
    clipped = KFACPreconditioner(tiny_net(), kl_clip=1e-6, lr=0.3, damping=0.05)
    for pre in (free, clipped):
        F.cross_entropy(pre.model(x), y).backward()
    grads = {n: layer_gradient_matrix(l.module).clone() for n, l in free.layers.items()}
    free.step()
    clipped.step()
    u = {n: layer_gradient_matrix(l.module) for n, l in free.layers.items()}
    assert not torch.allclose(u["3"], grads["3"])      # preconditioning did something
    quad = sum(float((u[n] * grads[n]).sum()) for n in u) * 0.3**2
    nu = min(1.0, math.sqrt(1e-6 / quad))
    assert nu < 1
    assert clipped.metrics["last_kl_scale"] == pytest.approx(nu)
    for layer, free_layer in zip(clipped.layers.values(), free.layers.values()):
        torch.testing.assert_close(layer_gradient_matrix(layer.module),
                                   layer_gradient_matrix(free_layer.module) * nu)


def test_intervals_and_callable_hyperparameters():
    net = tiny_net()
    seen = []
    pre = KFACPreconditioner(net, factor_update_interval=2, inv_update_interval=4,
                             damping=lambda step: seen.append(step) or 0.1,
                             factor_decay=lambda step: 0.5)
    sgd = torch.optim.SGD(net.parameters(), lr=0.01)
    for x, y in batches(9):
        sgd.zero_grad()
        F.cross_entropy(net(x), y).backward()
        pre.step()
        sgd.step()
    assert pre.metrics["factor_updates"] == 5              # steps 0, 2, 4, 6, 8
    assert pre.metrics["inverse_updates"] == 3             # steps 0, 4, 8
    assert sorted(set(seen)) == [0, 4, 8]
    assert all(l.a_batches == 5 for l in pre.layers.values())
    with pytest.raises(ValueError, match="multiple"):
        KFACPreconditioner(tiny_net(), factor_update_interval=3, inv_update_interval=4)
    with pytest.raises(ValueError, match="positive int"):
        KFACPreconditioner(tiny_net(), inv_update_interval=0)


def test_optimizer_wrapper_equals_preconditioner_plus_sgd():
    net_a, net_b = tiny_net(), tiny_net()
    wrapper = KFAC(net_a, lr=0.05, momentum=0.9, damping=0.05, inv_update_interval=2)
    pre = KFACPreconditioner(net_b, lr=0.05, damping=0.05, inv_update_interval=2)
    sgd = torch.optim.SGD(net_b.parameters(), lr=0.05, momentum=0.9)
    data = batches(5)
    train_steps(net_a, wrapper, data)
    for x, y in data:
        sgd.zero_grad()
        F.cross_entropy(net_b(x), y).backward()
        pre.step()
        sgd.step()
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_describe_lists_layers_and_leftovers():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    text = KFACPreconditioner(net).describe()
    assert "0: Linear, A 4x4, G 4x4" in text and "2: Linear, A 5x5, G 2x2" in text
    assert "left to the base optimizer" in text and "1: LayerNorm" in text


def _adam_run(net, pre, data, adam=None):
    adam = adam or torch.optim.Adam(net.parameters(), lr=0.03)
    losses = []
    for x, y in data:
        adam.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        if pre is not None:
            pre.step()
        adam.step()
        losses.append(loss.item())
    return adam, losses


def test_preconditioning_adam_trains_and_checkpoints_with_weights_only():
    data = batches(4) * 6                                   # 24 steps over 4 batches
    plain_net, net = tiny_net(), tiny_net()
    _, plain = _adam_run(plain_net, None, data)
    options = dict(lr=0.03, damping=0.05, inv_update_interval=3)
    pre = KFACPreconditioner(net, **options)
    adam, losses = _adam_run(net, pre, data[:12])
    buffer = io.BytesIO()
    torch.save({"model": net.state_dict(), "adam": adam.state_dict(), "kfac": pre.state_dict()},
               buffer)
    _, rest = _adam_run(net, pre, data[12:], adam)
    losses += rest
    assert sum(losses[-4:]) < 0.75 * sum(losses[:4])        # it trains (measured 0.67)
    assert not all(math.isclose(a, b, rel_tol=1e-3) for a, b in zip(losses[1:], plain[1:]))

    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = tiny_net(seed=5)
    resumed.load_state_dict(state["model"])
    pre2 = KFACPreconditioner(resumed, **options)
    pre2.load_state_dict(state["kfac"])
    adam2 = torch.optim.Adam(resumed.parameters(), lr=0.03)
    adam2.load_state_dict(state["adam"])
    _adam_run(resumed, pre2, data[12:], adam2)
    for p, q in zip(net.parameters(), resumed.parameters()):
        assert torch.equal(p, q)


def test_spu_inverse_checkpoint_loads_with_weights_only():
    opt = KFAC(tiny_net(), solver=spu_solver("inverse"), damping=0.05, inv_update_interval=2)
    train_steps(opt.preconditioner.model, opt, batches(3))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["kfac"]["steps"] == 3


def test_callable_intervals_and_skip_patterns():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                              torch.nn.Tanh(), torch.nn.Linear(4, 2))
    pre = KFACPreconditioner(net, skip_layers=("2",), factor_update_interval=lambda s: 1,
                             inv_update_interval=lambda s: 1 if s < 3 else 4)
    assert list(pre.layers) == ["0", "4"] and pre.unsupported["2"] == "skipped on request"
    sgd = torch.optim.SGD(net.parameters(), lr=0.01)
    for _ in range(9):
        sgd.zero_grad()
        F.cross_entropy(net(torch.randn(6, 3)), torch.randint(0, 2, (6,))).backward()
        pre.step()
        sgd.step()
    assert pre.metrics["inverse_updates"] == 5             # steps 0, 1, 2, 4, 8
    assert list(KFACPreconditioner(net, skip_layers=[torch.nn.Linear]).layers) == []
    assert list(KFACPreconditioner(net, skip_layers=["Lin*"]).layers) == []
    assert list(KFACPreconditioner(tiny_net(), skip_layers=["Conv*"]).layers) == ["3"]
    bad = KFACPreconditioner(net, inv_update_interval=lambda s: 0)
    with pytest.raises(ValueError, match="positive int"):
        bad.step()


def test_kfac_optimizer_takes_parameter_groups():
    net = tiny_net()
    with pytest.raises(TypeError, match="needs the model"):
        KFAC(net.parameters())
    groups = [{"params": list(net[0].parameters()), "lr": 0.01},
              {"params": list(net[3].parameters()), "lr": 0.2, "weight_decay": 1e-4}]
    opt = KFAC(net, lr=0.05, params=groups, damping=0.05)
    assert opt._clip_lr(0) == 0.2
    train_steps(net, opt, batches(3))
    assert all(torch.isfinite(p).all() for p in net.parameters())
