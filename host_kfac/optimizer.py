"""K-FAC as a ``torch.optim.Optimizer``: SGD with momentum on K-FAC-preconditioned gradients."""

from __future__ import annotations

import torch
from torch import nn

from .preconditioner import KFACPreconditioner
from .solvers import Solver

__all__ = ["KFAC"]


class KFAC(torch.optim.SGD):
    """``step()`` preconditions the gradients (:class:`KFACPreconditioner`) and then takes an
    SGD-with-momentum step on them.

    Parameters
    ----------
    model : nn.Module
        All its trainable parameters are optimized; its Linear/Conv2d layers are preconditioned.
    solver : Solver, optional
        Default :class:`~thermospu.host_kfac.solvers.DigitalSolver`.
    lr, momentum, weight_decay, nesterov :
        As ``torch.optim.SGD``. KL-clipping reads the first parameter group's current ``lr``, so
        learning-rate schedulers work as usual.
    **kfac_options :
        Keyword arguments of :class:`KFACPreconditioner` (damping, factor_decay, kl_clip,
        factor_update_interval, inv_update_interval, pi_adjust, fisher, ...).

    With ``fisher="mc"`` call :meth:`sample_fisher` with the logits before ``loss.backward()``.
    ``state_dict()`` holds the SGD state and, under the key ``"kfac"``, the preconditioner's.
    """

    def __init__(self, model: nn.Module, lr: float = 0.1, *, momentum: float = 0.9,
                 weight_decay: float = 0.0, nesterov: bool = False, solver: Solver | None = None,
                 **kfac_options):
        super().__init__([p for p in model.parameters() if p.requires_grad], lr=lr,
                         momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        self.preconditioner = KFACPreconditioner(
            model, solver, lr=lambda step: self.param_groups[0]["lr"], **kfac_options)

    def sample_fisher(self, logits: torch.Tensor) -> None:
        """See :meth:`KFACPreconditioner.sample_fisher`."""
        self.preconditioner.sample_fisher(logits)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.preconditioner.step()
        super().step()
        return loss

    def state_dict(self):
        state = super().state_dict()
        state["kfac"] = self.preconditioner.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        self.preconditioner.load_state_dict(state_dict.pop("kfac"))
        super().load_state_dict(state_dict)
