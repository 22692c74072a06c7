"""The K-FAC preconditioner: called between ``loss.backward()`` and a base optimizer's ``step()``.

Any ``torch.optim`` optimizer works as the base (as with kfac-pytorch)::

    precond = KFACPreconditioner(model, lr=1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss.backward(); precond.step(); opt.step()

Each call to :meth:`KFACPreconditioner.step`:

1. every ``factor_update_interval`` steps, folds the factors recorded in this step's forward and
   backward passes into their moving averages (:mod:`~thermospu.host_kfac.capture`);
2. every ``inv_update_interval`` steps, damps the factors (factored Tikhonov damping, optionally
   π-adjusted) and hands them to the solver (:mod:`~thermospu.host_kfac.solvers`);
3. replaces each handled layer's gradient ``V`` by ``ν U`` with ``U = G_d⁻¹ V A_d⁻¹`` and the
   KL-clipping factor ``ν = min(1, sqrt(kl_clip / (lr² Σ_layers ⟨U, V⟩)))`` (Ba, Grosse & Martens
   2017), so that the base optimizer's step ``-lr ν U`` changes the model's predictive
   distribution by at most about ``kl_clip`` (in the quadratic model).

Damping: with ``λ`` the damping, ``λ_A = π sqrt(λ)`` and ``λ_G = sqrt(λ) / π`` where
``π = sqrt((tr(A)/dim A) / (tr(G)/dim G))`` with ``pi_adjust`` (Martens & Grosse 2015, §6.3)
and ``π = 1`` without.

Hyperparameters (``lr``, ``damping``, ``factor_decay``, ``kl_clip``) and the two update intervals
are numbers or callables of the step counter (0 for the first step); step s updates the factors
when ``s % factor_update_interval(s) == 0`` and the solver when ``s % inv_update_interval(s) == 0``.

Gradient accumulation: run ``accumulation_steps`` forward/backward passes (each loss divided by
``accumulation_steps`` with ``loss_reduction="mean"``), then one ``step()``; the factors cover all
the micro-batches. Mixed precision: pass ``grad_scaler=scaler`` and call
``scaler.unscale_(opt)`` before ``step()`` (the gradients must be unscaled; the factors are
unscaled by the scaler's scale).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Union

import torch
from torch import nn

from .capture import (HOOKLESS_REASON, FactorCapture, layer_gradient_matrix,
                      set_layer_gradient_matrix)
from .solvers import DigitalSolver, Solver

__all__ = ["KFACPreconditioner", "Hyperparameter"]

Hyperparameter = Union[float, Callable[[int], float]]
Interval = Union[int, Callable[[int], int]]


def _value(h: Hyperparameter, step: int) -> float:
    return float(h(step)) if callable(h) else float(h)


def _check_interval(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int (or a callable of the step returning "
                         f"one), got {value!r}")
    return value


def _interval(name: str, value: Interval, step: int) -> int:
    return _check_interval(name, value(step) if callable(value) else value)


class KFACPreconditioner:
    """Kronecker-factored approximate curvature for the ``nn.Linear``, ``nn.Conv1d`` and
    ``nn.Conv2d`` layers of a model; other parameters keep their plain gradients (listed in
    :attr:`unsupported`, as are layers skipped on request and layers whose hooks never fire).

    Parameters
    ----------
    model : nn.Module
    solver : Solver, optional
        How the damped factors are applied (default :class:`DigitalSolver` with Cholesky).
    lr : float or callable
        The base optimizer's learning rate, used only by KL-clipping.
    damping : float or callable
        Tikhonov damping λ of the Kronecker-factored Fisher (split between the factors).
    factor_decay : float or callable
        Moving-average decay of the factors, in [0, 1).
    kl_clip : float, callable or None
        KL-clipping bound; None turns clipping off.
    factor_update_interval, inv_update_interval : int or callable
        Steps between factor updates and between solver updates (as ints, the inverse interval
        must be a multiple of the factor interval); callables get the step and return an int.
    pi_adjust : bool
        π-adjusted split of the damping between A and G.
    fisher : {"empirical", "mc"}
        Empirical Fisher (the training loss's gradients) or one-sample Monte-Carlo Fisher
        (call :meth:`sample_fisher` with the logits before ``loss.backward()``).
    loss_reduction : {"mean", "sum"}
    factor_dtype : torch.dtype
    skip_layers : iterable of str or type
        Supported modules to leave to the base optimizer: module types, or ``fnmatch`` patterns
        of qualified names or class names (``"head"``, ``"blocks.*.mlp.*"``, ``"Conv*"``).
    accumulation_steps : int
        Micro-batches (forward/backward passes) per ``step()``.
    grad_scaler : torch.amp.GradScaler or None
        The loss scaler of mixed-precision training; the factors are unscaled by its scale.
    seed : int
        Seed of the label sampler of the Monte-Carlo Fisher.
    report : bool
        Print which layers are preconditioned and which are left to the base optimizer.
    """

    def __init__(self, model: nn.Module, solver: Solver | None = None, *,
                 lr: Hyperparameter = 0.1, damping: Hyperparameter = 1e-3,
                 factor_decay: Hyperparameter = 0.95, kl_clip: Hyperparameter | None = 1e-3,
                 factor_update_interval: Interval = 1, inv_update_interval: Interval = 10,
                 pi_adjust: bool = True, fisher: str = "empirical", loss_reduction: str = "mean",
                 factor_dtype: torch.dtype = torch.float32, skip_layers=(), seed: int = 0,
                 accumulation_steps: int = 1, grad_scaler=None, report: bool = False):
        for name, value in (("factor_update_interval", factor_update_interval),
                            ("inv_update_interval", inv_update_interval)):
            if not callable(value):
                _check_interval(name, value)
        if (not callable(factor_update_interval) and not callable(inv_update_interval)
                and inv_update_interval % factor_update_interval):
            raise ValueError(f"inv_update_interval={inv_update_interval} must be a multiple of "
                             f"factor_update_interval={factor_update_interval}")
        self.model = model
        self.solver = solver if solver is not None else DigitalSolver()
        self.lr, self.damping, self.factor_decay, self.kl_clip = lr, damping, factor_decay, kl_clip
        self.factor_update_interval = factor_update_interval
        self.inv_update_interval = inv_update_interval
        self.pi_adjust = pi_adjust
        self.capture = FactorCapture(model, fisher=fisher, loss_reduction=loss_reduction,
                                     factor_dtype=factor_dtype, skip=tuple(skip_layers),
                                     accumulation_steps=accumulation_steps,
                                     grad_scaler=grad_scaler)
        self.unsupported = self.capture.unsupported
        self.steps = 0
        self.metrics = {"factor_updates": 0, "inverse_updates": 0, "nonfinite_gradients": 0,
                        "last_kl_scale": 1.0}
        self.generator = torch.Generator().manual_seed(seed)
        self.solver.prepare({name: (l.a_dim, l.g_dim) for name, l in self.capture.layers.items()})
        self.capture.recording = self._factor_step(0)
        if report:
            print(self.describe())

    @property
    def layers(self):
        """Name -> :class:`~thermospu.host_kfac.capture.LayerFactors` of preconditioned layers."""
        return self.capture.layers

    def describe(self) -> str:
        """A start-up report: the preconditioned layers with their factor sizes, the rest."""
        lines = [f"K-FAC ({self.solver.name}): {len(self.layers)} layer(s) preconditioned"]
        for name, l in self.layers.items():
            lines.append(f"  {name}: {type(l.module).__name__}, A {l.a_dim}x{l.a_dim}, "
                         f"G {l.g_dim}x{l.g_dim}")
        if self.unsupported:
            lines.append("left to the base optimizer:")
            lines += [f"  {name}: {why}" for name, why in self.unsupported.items()]
        return "\n".join(lines)

    def _factor_step(self, step: int) -> bool:
        return step % _interval("factor_update_interval", self.factor_update_interval, step) == 0

    def _inverse_step(self, step: int) -> bool:
        return step % _interval("inv_update_interval", self.inv_update_interval, step) == 0

    def sample_fisher(self, logits: torch.Tensor) -> None:
        """Monte-Carlo Fisher: record G from labels sampled from ``softmax(logits)``. Call after
        the forward pass and before ``loss.backward()`` (fisher="mc" only)."""
        if self.capture.recording:
            self.capture.sample_fisher(logits, self.generator)

    def damped_factors(self, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(A + λ_A I, G + λ_G I)`` of a layer at the current step."""
        l = self.layers[layer]
        damping = _value(self.damping, self.steps)
        if damping <= 0:
            raise ValueError(f"damping must be positive, got {damping}")
        pi = 1.0
        if self.pi_adjust:
            a_mean = torch.trace(l.A).item() / l.a_dim
            g_mean = torch.trace(l.G).item() / l.g_dim
            if a_mean > 0 and g_mean > 0 and math.isfinite(a_mean / g_mean):
                pi = math.sqrt(a_mean / g_mean)
        root = math.sqrt(damping)
        eye_a = torch.eye(l.a_dim, dtype=l.A.dtype, device=l.A.device)
        eye_g = torch.eye(l.g_dim, dtype=l.G.dtype, device=l.G.device)
        # Rounding in the factor products leaves ~1e-8 relative asymmetry; solvers get exactly
        # symmetric matrices.
        a = (l.A + l.A.T) / 2 + (pi * root) * eye_a
        g = (l.G + l.G.T) / 2 + (root / pi) * eye_g
        return a, g

    @torch.no_grad()
    def step(self) -> None:
        """Update factors and the solver when due, then precondition the gradients in place."""
        step = self.steps
        if self._factor_step(step):
            self._drop_hookless_layers()
            self._update_factors(_value(self.factor_decay, step))
            self.metrics["factor_updates"] += 1
        if self._inverse_step(step):
            self._update_inverses()
            self.metrics["inverse_updates"] += 1
        grads = self._gradients()
        updates = self._preconditioned(grads)
        scale = 1.0
        if self.kl_clip is not None and updates:
            lr = _value(self.lr, step)
            kl = _value(self.kl_clip, step)
            quad = sum(float((updates[n] * grads[n]).sum()) for n in updates) * lr ** 2
            if quad > 0 and math.isfinite(quad):
                scale = min(1.0, math.sqrt(kl / quad))
        self.metrics["last_kl_scale"] = scale
        for name, u in updates.items():
            set_layer_gradient_matrix(self.layers[name].module, u * scale)

        self.steps += 1
        self.capture.recording = self._factor_step(self.steps)

    def _drop_hookless_layers(self) -> None:
        """A layer with a gradient whose forward hook has never fired (its parent uses its
        weight functionally) has no factors: leave it to the base optimizer, say so. Judged
        only once the model has run a forward pass under this preconditioner's hooks."""
        if not self.capture.forward_passes:
            return
        for name, l in list(self.layers.items()):
            if l.module.weight.grad is not None and name not in self.capture.ever_called:
                self.capture.drop_layer(name, HOOKLESS_REASON)
                warnings.warn(f"K-FAC: layer {name!r} has a gradient but {HOOKLESS_REASON}; it is "
                              f"left to the base optimizer", RuntimeWarning, stacklevel=3)

    def _update_factors(self, decay: float) -> None:
        self.capture.update_factors(decay)

    def _update_inverses(self) -> None:
        for name, l in self.layers.items():
            if l.A is not None and l.G is not None:
                self.solver.update(name, *self.damped_factors(name))

    def _gradients(self) -> dict[str, torch.Tensor]:
        """The finite gradient matrices of the handled layers (a non-finite one is left to the
        base optimizer and the user's guards: preconditioning would spread the NaN)."""
        grads = {}
        for name, l in self.layers.items():
            if l.module.weight.grad is None:
                continue
            v = layer_gradient_matrix(l.module)
            if not torch.isfinite(v).all():
                self.metrics["nonfinite_gradients"] += 1
                warnings.warn(f"K-FAC: non-finite gradient in layer {name!r} left "
                              f"unpreconditioned", RuntimeWarning, stacklevel=3)
                continue
            grads[name] = v
        return grads

    def _preconditioned(self, grads: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: self.solver.precondition(name, v) for name, v in grads.items()}

    # --- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Factors, counters, the Monte-Carlo sampler state and the solver's state (its
        inverses and device job counter), enough for a resumed run to continue identically.
        Tensors and plain Python values only, so ``torch.load(weights_only=True)`` reads it
        when the solver's own state is such (see docs/kfac.md for the SPU Method 2 solver)."""
        return {"steps": self.steps, "metrics": dict(self.metrics),
                "capture": self.capture.state_dict(), "solver": self.solver.state_dict(),
                "solver_name": self.solver.name, "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if state["solver_name"] != self.solver.name:
            raise ValueError(f"checkpoint was made with solver {state['solver_name']!r}, this "
                             f"preconditioner uses {self.solver.name!r}")
        self.steps = state["steps"]
        self.metrics = dict(state["metrics"])
        self.capture.load_state_dict(state["capture"])
        self.solver.load_state_dict(state["solver"])
        self.generator.set_state(state["generator"])
        self.capture.recording = self._factor_step(self.steps)
