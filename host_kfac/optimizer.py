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
        Its Linear/Conv1d/Conv2d layers are preconditioned (the hooks need the module itself:
        ``KFAC(model.parameters())`` is refused with a ``TypeError``).
    params : iterable of Tensor or of dict, optional
        What SGD optimizes, as ``torch.optim.SGD``'s first argument (parameter groups with their
        own ``lr``/``weight_decay``); default all trainable parameters of ``model``.
    solver : Solver, optional
        Default :class:`~thermospu.host_kfac.solvers.DigitalSolver`.
    lr, momentum, weight_decay, nesterov :
        As ``torch.optim.SGD``. KL-clipping reads the current ``lr`` (so learning-rate schedulers
        work as usual): the largest over the groups that hold a preconditioned layer's weight.
    **kfac_options :
        Keyword arguments of :class:`KFACPreconditioner` (damping, factor_decay, kl_clip,
        factor_update_interval, inv_update_interval, pi_adjust, fisher, ...).

    With ``fisher="mc"`` call :meth:`sample_fisher` with the logits before ``loss.backward()``.
    ``state_dict()`` holds the SGD state and, under the key ``"kfac"``, the preconditioner's.
    """

    def __init__(self, model: nn.Module, lr: float = 0.1, *, params=None, momentum: float = 0.9,
                 weight_decay: float = 0.0, nesterov: bool = False, solver: Solver | None = None,
                 **kfac_options):
        if not isinstance(model, nn.Module):
            raise TypeError(f"KFAC needs the model (an nn.Module: its layers' hooks record the "
                            f"Kronecker factors), got {type(model).__name__}; pass parameters or "
                            f"parameter groups as KFAC(model, lr, params=...)")
        if params is None:
            params = [p for p in model.parameters() if p.requires_grad]
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov)
        self.preconditioner = KFACPreconditioner(model, solver, lr=self._clip_lr, **kfac_options)

    def _clip_lr(self, step: int) -> float:
        """The learning rate KL-clipping assumes: the largest current ``lr`` of the groups
        holding a preconditioned layer's weight (the first group's when none does)."""
        weights = {id(l.module.weight) for l in self.preconditioner.layers.values()}
        rates = [g["lr"] for g in self.param_groups if any(id(p) in weights for p in g["params"])]
        return max(rates) if rates else self.param_groups[0]["lr"]

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
