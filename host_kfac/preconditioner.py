"""The K-FAC preconditioner: called between ``loss.backward()`` and a base optimizer's ``step()``.

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

Hyperparameters (``lr``, ``damping``, ``factor_decay``, ``kl_clip``) are numbers or callables of
the step counter (0 for the first step).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, Union

import torch
from torch import nn

from .capture import FactorCapture, layer_gradient_matrix, set_layer_gradient_matrix
from .solvers import DigitalSolver, Solver

__all__ = ["KFACPreconditioner", "Hyperparameter"]

Hyperparameter = Union[float, Callable[[int], float]]


def _value(h: Hyperparameter, step: int) -> float:
    return float(h(step)) if callable(h) else float(h)


class KFACPreconditioner:
    """Kronecker-factored approximate curvature for the ``nn.Linear`` and ``nn.Conv2d`` layers
    of a model; other parameters keep their plain gradients (listed in :attr:`unsupported`).

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
    factor_update_interval, inv_update_interval : int
        Steps between factor updates and between solver updates (the inverse interval must be a
        multiple of the factor interval).
    pi_adjust : bool
        π-adjusted split of the damping between A and G.
    fisher : {"empirical", "mc"}
        Empirical Fisher (the training loss's gradients) or one-sample Monte-Carlo Fisher
        (call :meth:`sample_fisher` with the logits before ``loss.backward()``).
    loss_reduction : {"mean", "sum"}
    factor_dtype : torch.dtype
    skip_layers : iterable of str
        Supported modules to leave to the base optimizer.
    seed : int
        Seed of the label sampler of the Monte-Carlo Fisher.
    report : bool
        Print which layers are preconditioned and which are left to the base optimizer.
    """

    def __init__(self, model: nn.Module, solver: Solver | None = None, *,
                 lr: Hyperparameter = 0.1, damping: Hyperparameter = 1e-3,
                 factor_decay: Hyperparameter = 0.95, kl_clip: Hyperparameter | None = 1e-3,
                 factor_update_interval: int = 1, inv_update_interval: int = 10,
                 pi_adjust: bool = True, fisher: str = "empirical", loss_reduction: str = "mean",
                 factor_dtype: torch.dtype = torch.float32, skip_layers=(), seed: int = 0,
                 report: bool = False):
        for name, value in (("factor_update_interval", factor_update_interval),
                            ("inv_update_interval", inv_update_interval)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if inv_update_interval % factor_update_interval:
            raise ValueError(f"inv_update_interval={inv_update_interval} must be a multiple of "
                             f"factor_update_interval={factor_update_interval}")
        self.model = model
        self.solver = solver if solver is not None else DigitalSolver()
        self.lr, self.damping, self.factor_decay, self.kl_clip = lr, damping, factor_decay, kl_clip
        self.factor_update_interval = factor_update_interval
        self.inv_update_interval = inv_update_interval
        self.pi_adjust = pi_adjust
        self.capture = FactorCapture(model, fisher=fisher, loss_reduction=loss_reduction,
                                     factor_dtype=factor_dtype, skip=set(skip_layers))
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
        return step % self.factor_update_interval == 0

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
        eye_a = torch.eye(l.a_dim, dtype=l.A.dtype)
        eye_g = torch.eye(l.g_dim, dtype=l.G.dtype)
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
            self.capture.update_factors(_value(self.factor_decay, step))
            self.metrics["factor_updates"] += 1
        if step % self.inv_update_interval == 0:
            for name, l in self.layers.items():
                if l.A is not None and l.G is not None:
                    self.solver.update(name, *self.damped_factors(name))
            self.metrics["inverse_updates"] += 1

        grads, updates = {}, {}
        for name, l in self.layers.items():
            if l.module.weight.grad is None:
                continue
            v = layer_gradient_matrix(l.module)
            if not torch.isfinite(v).all():
                # Leave a non-finite gradient to the base optimizer (and the user's guards):
                # preconditioning it would only spread the NaN across the layer.
                self.metrics["nonfinite_gradients"] += 1
                warnings.warn(f"K-FAC: non-finite gradient in layer {name!r} left "
                              f"unpreconditioned", RuntimeWarning, stacklevel=2)
                continue
            grads[name], updates[name] = v, self.solver.precondition(name, v)

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

    # --- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Factors, counters, the Monte-Carlo sampler state and the solver's state (its
        inverses and device job counter), enough for a resumed run to continue identically."""
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
