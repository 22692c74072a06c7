"""A short thermodynamic K-FAC run on any device URI, through the path `thermospu train` takes
(:func:`thermospu.host_kfac.train.make_optimizer`), for comparing transports bit for bit."""

from __future__ import annotations

import torch
from torch import nn

from thermospu.host_kfac.train import TrainConfig, make_optimizer


def kfac_weights_after(uri: str, *, in_bits, out_bits, steps: int = 2) -> list[torch.Tensor]:
    """Weights of Linear(3 -> 2) (factors A 4x4, G 2x2) after ``steps`` K-FAC steps whose factor
    inverses run on ``uri`` (inverse update every step, 64 samples per job)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2))
    cfg = TrainConfig(optimizer="kfac", solver="spu", device=uri, in_bits=in_bits,
                      out_bits=out_bits, samples=64, inv_update_interval=1, steps=steps,
                      batch_size=8, seed=5)
    optimizer = make_optimizer(cfg, model)
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(8, 3, generator=g), torch.randint(0, 2, (8,), generator=g)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    metrics = optimizer.preconditioner.solver.metrics
    assert metrics.get("device_jobs") and not metrics.get("fallbacks"), metrics
    return [p.detach().clone() for p in model.parameters()]
