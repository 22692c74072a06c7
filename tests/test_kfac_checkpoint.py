"""`thermospu train --checkpoint DIR --resume`: a run stopped after a checkpoint and resumed ends
exactly as an uninterrupted run (weights, losses, accuracies, solver counters), for digital and
thermodynamic K-FAC; checkpoints are written atomically and load with weights_only=True."""

from __future__ import annotations

import pytest
import torch

from thermospu.host_kfac.checkpoint import CHECKPOINT_NAME, load_checkpoint
from thermospu.host_kfac.data import load_dataset
from thermospu.host_kfac.train import TrainConfig, train
from thermospu.rtl.spec.config import ConfigError

TIMED = ("wall_s", "wall_s_total")


def _without_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in TIMED}


@pytest.mark.parametrize("solver", ["digital", "spu"])
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, solver):
    data = load_dataset("digits")
    full = TrainConfig(optimizer="kfac", solver=solver, steps=12, eval_every=4, batch_size=32,
                       samples=200, inv_update_interval=3, spu_n=65 if solver == "spu" else None)
    whole = train(full, progress=False, data=data)

    folder = tmp_path / "ckpt"
    # The same run stopped after its checkpoint at step 8: `steps` is part of the configuration,
    # so the stop is simulated by an exception at step 9 (as Ctrl-C would stop it).
    import thermospu.host_kfac.train as train_module

    real_evaluate, calls = train_module._evaluate, []

    def stop_after_two(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_evaluate(*args)

    train_module._evaluate = stop_after_two
    try:
        with pytest.raises(KeyboardInterrupt):
            train(full, progress=False, data=data, checkpoint_dir=folder)
    finally:
        train_module._evaluate = real_evaluate
    saved = torch.load(folder / CHECKPOINT_NAME, weights_only=True)
    assert saved["step"] == 8

    resumed = train(full, progress=False, data=data, checkpoint_dir=folder, resume=True)
    assert _without_times(resumed) == _without_times(whole)
    assert load_checkpoint(folder)["step"] == 12
    assert not list(folder.glob(".*partial"))


def test_resuming_another_run_is_refused(tmp_path):
    data = load_dataset("digits")
    cfg = TrainConfig(optimizer="sgd", steps=4, eval_every=2, batch_size=32)
    train(cfg, progress=False, data=data, checkpoint_dir=tmp_path)
    with pytest.raises(ConfigError, match="checkpoint of another run"):
        train(TrainConfig(optimizer="sgd", steps=4, eval_every=2, batch_size=64),
              progress=False, data=data, checkpoint_dir=tmp_path, resume=True)


def test_resume_with_no_checkpoint_yet_starts_from_the_beginning(tmp_path):
    data = load_dataset("digits")
    cfg = TrainConfig(optimizer="adam", steps=4, eval_every=2, batch_size=32)
    fresh = train(cfg, progress=False, data=data)
    resumed = train(cfg, progress=False, data=data, checkpoint_dir=tmp_path, resume=True)
    assert _without_times(resumed) == _without_times(fresh)


@pytest.mark.parametrize("method", ["inverse", "linsolve"])
def test_a_thermodynamic_solver_state_loads_with_weights_only(method):
    """Method 2 keeps its damped factors: saved as tensors, so ``weights_only=True`` loads them
    and the restored solver preconditions as the saved one."""
    import io

    import torch.nn.functional as F

    from kfac_helpers import ExactDevice, tiny_batch, tiny_net
    from thermospu.host_kfac.capture import layer_gradient_matrix
    from thermospu.host_kfac.preconditioner import KFACPreconditioner
    from thermospu.host_kfac.solvers import thermodynamic_solver

    def preconditioner():
        net = tiny_net()
        return net, KFACPreconditioner(net, thermodynamic_solver(ExactDevice(n=16), method),
                                       kl_clip=None)

    net, pre = preconditioner()
    x, y = tiny_batch()
    F.cross_entropy(net(x), y).backward()
    pre.step()
    buffer = io.BytesIO()
    torch.save(pre.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    net2, pre2 = preconditioner()
    pre2.load_state_dict(state)
    for name, layer in pre.layers.items():
        v = torch.randn_like(layer_gradient_matrix(layer.module))
        torch.testing.assert_close(pre2.solver.precondition(name, v),
                                   pre.solver.precondition(name, v), rtol=0, atol=0)
