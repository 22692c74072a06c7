"""Kronecker-factor capture for ``nn.Linear`` and ``nn.Conv2d``: hooks, batch factors, averages.

K-FAC approximates the Fisher block of one layer with weight matrix ``W̄ = [W | b]`` (shape
``(out, in + 1)``; a ``Conv2d`` weight is flattened to ``(out, in_channels * kh * kw)``) by the
Kronecker product ``A ⊗ G`` of two small factors:

- ``A = E_i[ Σ_t ā_it ā_itᵀ ]``, ``ā_it`` the layer input at sample i (and, for a convolution,
  at output position t: an unfolded patch) with a trailing 1 for the bias; shape
  ``(in + 1, in + 1)``. A linear layer has one position.
- ``G = E_i[ (1/T) Σ_t g_it g_itᵀ ]``, ``g_it`` the gradient of the per-sample loss with respect
  to the layer output at position t (T positions); shape ``(out, out)``.

This is the KFC convention of Grosse & Martens (2016): ``A ⊗ G`` then approximates the second
moment of the per-sample gradient ``Σ_t g_it ā_itᵀ`` under spatial homogeneity.

The per-sample output gradients come either from the training loss's own backward pass
(``fisher="empirical"``: the empirical Fisher) or from an extra backward pass of the loss with
labels sampled from the model's predictive distribution (``fisher="mc"``: a one-sample
Monte-Carlo estimate of the true Fisher; see :meth:`FactorCapture.sample_fisher`). With a loss
averaged over the batch (``loss_reduction="mean"``) the output gradients are multiplied by the
batch size to recover per-sample gradients.

Factors are averaged over steps with an exponential moving average
``F <- decay * F + (1 - decay) * F_batch`` (the first batch initialises F). A batch whose factor
is not finite (NaN or infinity anywhere) is dropped with a warning and counted; it never enters
the average.

Nothing here knows how the factors are inverted: see :mod:`thermospu.host_kfac.solvers`.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SUPPORTED_LAYER_TYPES", "LayerFactors", "FactorCapture", "unsupported_layers",
           "layer_gradient_matrix", "set_layer_gradient_matrix"]

SUPPORTED_LAYER_TYPES = (nn.Linear, nn.Conv2d)


def _conv_supported(module: nn.Conv2d) -> str | None:
    """Why a Conv2d cannot be handled (None when it can)."""
    if module.groups != 1:
        return f"groups={module.groups} (only groups=1 is factored)"
    if module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r} (only 'zeros')"
    if isinstance(module.padding, str):
        return f"padding={module.padding!r} (give the padding as numbers)"
    return None


def unsupported_layers(model: nn.Module, skip=()) -> dict[str, str]:
    """Modules with parameters of their own that K-FAC leaves to the base optimizer, with why."""
    out = {}
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if name in skip:
            out[name] = "skipped on request"
        elif isinstance(module, nn.Conv2d) and _conv_supported(module):
            out[name] = _conv_supported(module)
        elif not isinstance(module, SUPPORTED_LAYER_TYPES):
            out[name] = f"{type(module).__name__} has no Kronecker-factored form here"
    return out


def layer_gradient_matrix(module: nn.Module) -> torch.Tensor:
    """The layer's gradient as the matrix ``[∇W | ∇b]``, shape (out, in + 1) (no bias column
    when the layer has no bias). Conv2d weights are flattened to (out, in_ch * kh * kw)."""
    g = module.weight.grad.reshape(module.weight.shape[0], -1)
    if module.bias is not None:
        g = torch.cat([g, module.bias.grad.reshape(-1, 1)], dim=1)
    return g


def set_layer_gradient_matrix(module: nn.Module, matrix: torch.Tensor) -> None:
    """Write ``matrix`` (shape as :func:`layer_gradient_matrix`) back into ``.grad``."""
    w = module.weight
    cols = w[0].numel()
    w.grad.copy_(matrix[:, :cols].reshape(w.shape))
    if module.bias is not None:
        module.bias.grad.copy_(matrix[:, cols].reshape(module.bias.shape))


@dataclasses.dataclass
class LayerFactors:
    """Running Kronecker factors of one layer.

    Attributes
    ----------
    name : str
        The module's qualified name in the model.
    module : nn.Module
    a_dim, g_dim : int
        Sizes of A (inputs + bias coordinate) and G (outputs).
    A, G : Tensor or None
        Running averages (``factor_dtype``), None until the first finite batch.
    batches : int
        Batches averaged into each factor so far.
    """

    name: str
    module: nn.Module
    a_dim: int
    g_dim: int
    A: torch.Tensor | None = None
    G: torch.Tensor | None = None
    a_batches: int = 0
    g_batches: int = 0


class FactorCapture:
    """Hooks on every supported layer of ``model`` that record Kronecker factors on request.

    Parameters
    ----------
    model : nn.Module
    fisher : {"empirical", "mc"}
        Where the output gradients come from: the training loss's backward pass, or an extra
        backward pass with sampled labels (:meth:`sample_fisher`, call it before the loss's
        ``backward()``).
    loss_reduction : {"mean", "sum"}
        How the training loss combines samples; "mean" rescales output gradients by the batch
        size so that G is the second moment of per-sample gradients.
    factor_dtype : torch.dtype
        Precision of the running factors.
    skip : iterable of str
        Names of supported modules to leave to the base optimizer.
    """

    def __init__(self, model: nn.Module, *, fisher: str = "empirical", loss_reduction: str = "mean",
                 factor_dtype: torch.dtype = torch.float32, skip=()):
        if fisher not in ("empirical", "mc"):
            raise ValueError(f"fisher must be 'empirical' or 'mc', got {fisher!r}")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        self.fisher = fisher
        self.loss_reduction = loss_reduction
        self.factor_dtype = factor_dtype
        self.unsupported = unsupported_layers(model, skip)
        self.layers: dict[str, LayerFactors] = {}
        self.nonfinite_batches = 0
        self.recording = False
        self._handles = []
        self._batch_a: dict[str, torch.Tensor] = {}
        self._batch_g: dict[str, torch.Tensor] = {}
        self._outputs: dict[str, torch.Tensor] = {}
        for name, module in model.named_modules():
            if not isinstance(module, SUPPORTED_LAYER_TYPES) or name in self.unsupported:
                continue
            if not module.weight.requires_grad:
                continue
            has_bias = module.bias is not None
            if isinstance(module, nn.Linear):
                a_dim, g_dim = module.in_features + has_bias, module.out_features
            else:
                kh, kw = module.kernel_size
                a_dim, g_dim = module.in_channels * kh * kw + has_bias, module.out_channels
            self.layers[name] = LayerFactors(name, module, a_dim, g_dim)
            self._handles.append(module.register_forward_hook(self._forward_hook(name)))

    def remove(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    # --- hooks ------------------------------------------------------------------------------
    def _forward_hook(self, name):
        def hook(module, inputs, output):
            if not (self.recording and module.training and torch.is_grad_enabled()):
                return
            self._batch_a[name] = self._a_factor(module, inputs[0].detach())
            if self.fisher == "mc":
                self._outputs[name] = output
            elif output.requires_grad:
                batch = output.shape[0]
                output.register_hook(lambda grad: self._record_g(name, module, grad, batch))
        return hook

    def _record_g(self, name, module, grad, batch):
        self._batch_g[name] = self._g_factor(module, grad.detach(), batch)

    def _a_factor(self, module, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.factor_dtype)
        batch = x.shape[0]
        if isinstance(module, nn.Conv2d):
            # (B, C*kh*kw, T) patches; the KFC factor sums over the T positions.
            x = F.unfold(x, module.kernel_size, dilation=module.dilation,
                         padding=module.padding, stride=module.stride)
            x = x.transpose(1, 2).reshape(-1, x.shape[1])
        else:
            x = x.reshape(-1, x.shape[-1])
        if module.bias is not None:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)
        return x.T @ x / batch

    def _g_factor(self, module, g: torch.Tensor, batch: int) -> torch.Tensor:
        g = g.to(self.factor_dtype)
        if self.loss_reduction == "mean":
            g = g * batch
        if isinstance(module, nn.Conv2d):
            positions = g.shape[2] * g.shape[3]
            g = g.permute(0, 2, 3, 1).reshape(-1, g.shape[1])
            return g.T @ g / (batch * positions)
        g = g.reshape(-1, g.shape[-1])
        return g.T @ g / batch

    # --- Monte-Carlo Fisher -------------------------------------------------------------------
    def sample_fisher(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Record G from labels sampled from ``softmax(logits)`` (one sample per row).

        Runs ``torch.autograd.grad`` of the cross-entropy of the sampled labels with respect to
        the recorded layer outputs, keeping the graph for the training loss's ``backward()``.
        Parameters' ``.grad`` are untouched. Only for ``fisher="mc"`` and classification logits
        of shape (batch, classes).
        """
        if self.fisher != "mc":
            raise RuntimeError("sample_fisher() is for fisher='mc'; this capture uses the "
                               "empirical Fisher from the training loss's backward pass")
        if not self._outputs:
            return
        with torch.no_grad():
            probs = torch.softmax(logits.detach().to(torch.float64), dim=-1)
            labels = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        reduction = "mean" if self.loss_reduction == "mean" else "sum"
        loss = F.cross_entropy(logits, labels, reduction=reduction)
        names = list(self._outputs)
        grads = torch.autograd.grad(loss, [self._outputs[n] for n in names], retain_graph=True,
                                    allow_unused=True)
        for name, grad in zip(names, grads):
            if grad is not None:
                module = self.layers[name].module
                self._batch_g[name] = self._g_factor(module, grad, grad.shape[0])
        self._outputs.clear()

    # --- averaging ----------------------------------------------------------------------------
    def update_factors(self, decay: float) -> int:
        """Fold the recorded batch factors into the running averages; returns how many batch
        factors were dropped for being non-finite (also added to :attr:`nonfinite_batches`)."""
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"factor decay must lie in [0, 1), got {decay}")
        dropped = 0
        for name, layer in self.layers.items():
            for kind, batch in (("A", self._batch_a.get(name)), ("G", self._batch_g.get(name))):
                if batch is None:
                    continue
                if not torch.isfinite(batch).all():
                    dropped += 1
                    warnings.warn(f"K-FAC: non-finite {kind} factor batch in layer {name!r} "
                                  f"dropped; the running average keeps its previous value",
                                  RuntimeWarning, stacklevel=3)
                    continue
                current = getattr(layer, kind)
                new = batch.clone() if current is None else decay * current + (1 - decay) * batch
                setattr(layer, kind, new)
                count = f"{kind.lower()}_batches"
                setattr(layer, count, getattr(layer, count) + 1)
        self._batch_a.clear()
        self._batch_g.clear()
        self._outputs.clear()
        self.nonfinite_batches += dropped
        return dropped

    def state_dict(self) -> dict:
        return {
            "factors": {name: {"A": l.A, "G": l.G, "a_batches": l.a_batches,
                               "g_batches": l.g_batches} for name, l in self.layers.items()},
            "nonfinite_batches": self.nonfinite_batches,
        }

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.layers) ^ set(state["factors"])
        if missing:
            raise ValueError(f"checkpoint layers do not match the model's: {sorted(missing)}")
        for name, f in state["factors"].items():
            layer = self.layers[name]
            for kind in ("A", "G"):
                value = f[kind]
                setattr(layer, kind, None if value is None else value.clone().to(self.factor_dtype))
            layer.a_batches, layer.g_batches = f["a_batches"], f["g_batches"]
        self.nonfinite_batches = state["nonfinite_batches"]
