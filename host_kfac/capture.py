"""Kronecker-factor capture for ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d``: hooks, factors.

K-FAC approximates the Fisher block of one layer with weight matrix ``W̄ = [W | b]`` (shape
``(out, in + 1)``; a convolution weight is flattened to ``(out, in_channels * kernel size)``) by
the Kronecker product ``A ⊗ G`` of two small factors:

- ``A = E_i[ Σ_t ā_it ā_itᵀ ]``, ``ā_it`` the layer input of sample i at position t with a
  trailing 1 for the bias; shape ``(in + 1, in + 1)``. The positions of a convolution are its
  output positions (``ā`` an unfolded patch); those of a ``Linear`` are all its leading
  dimensions after the first (an input of shape ``(B, T, d)`` has T positions, ``(B, d)`` one).
- ``G = E_i[ (1/T) Σ_t g_it g_itᵀ ]``, ``g_it`` the gradient of sample i's loss with respect to
  the layer output at position t; shape ``(out, out)``.

This is the *expand* convention (Eschenhagen et al. 2023; curvlinops' ``kfac_approx="expand"``,
the KFC factors of Grosse & Martens 2016 for convolutions): the positions are treated as extra
samples that share the weight, and ``A ⊗ G = (1/T) Σ_it ā āᵀ ⊗ Σ_it g gᵀ / B`` is the same
product as curvlinops' (which puts the 1/T on A instead; only the product and the π-adjusted
damping, which is invariant under that split, enter the update). The dimension 0 of the input
is always the batch. An unbatched input (``Linear`` on a vector, ``Conv1d`` on ``(C, L)``) is a
batch of one.

A layer called several times in one forward pass (shared weights) accumulates every call: its
calls are more positions of the same samples (``T`` is the total over calls), so A and G always
come from the same calls. A call with another batch size than the pass's earlier calls (or
a call of the layer outside a forward pass of ``model``) counts as a new pass of new samples.

Output gradients come from the training loss's own backward pass (``fisher="empirical"``) or from
an extra backward pass with labels sampled from the model's predictive distribution
(``fisher="mc"``, :meth:`FactorCapture.sample_fisher`). They are rescaled to per-sample
gradients: with ``loss_reduction="mean"`` (the loss averages over dimension 0 of the batch) by
the batch size times ``accumulation_steps`` (the usual recipe divides each of the k micro-batch
losses by k), and always divided by the ``grad_scaler``'s current scale (``GradScaler``). The
factors of a step are accumulated over all its forward/backward passes (micro-batches) and
normalised once: ``A = Σ ā āᵀ / samples``, ``G = Σ g gᵀ / (g rows)``.

Factors are averaged over steps with an exponential moving average
``F <- decay * F + (1 - decay) * F_batch`` (the first batch initialises F). A batch whose factor
is not finite (NaN or infinity anywhere) is dropped with a warning and counted; it never enters
the average.

Modules that have parameters but no Kronecker-factored form here, modules skipped on request and
modules whose forward hooks never fire (``nn.MultiheadAttention``'s ``out_proj``: the parent
uses its weight functionally) are listed in :attr:`FactorCapture.unsupported` with the reason
and are never preconditioned.

Nothing here knows how the factors are inverted: see :mod:`thermospu.host_kfac.solvers`.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import warnings

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SUPPORTED_LAYER_TYPES", "LayerFactors", "FactorCapture", "unsupported_layers",
           "layer_gradient_matrix", "set_layer_gradient_matrix", "matches_skip"]

SUPPORTED_LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d)
_CONV_TYPES = (nn.Conv1d, nn.Conv2d)
HOOKLESS_REASON = ("its forward hooks never fire (the parent module uses its weight "
                   "functionally, as nn.MultiheadAttention does with out_proj)")


def _conv_supported(module: nn.Module) -> str | None:
    """Why a Conv1d/Conv2d cannot be handled (None when it can)."""
    if module.groups != 1:
        return f"groups={module.groups} (only groups=1 is factored)"
    if module.padding_mode != "zeros":
        return f"padding_mode={module.padding_mode!r} (only 'zeros')"
    if isinstance(module.padding, str):
        return f"padding={module.padding!r} (give the padding as numbers)"
    return None


def matches_skip(name: str, module: nn.Module, skip) -> bool:
    """Whether ``skip`` names this module: an entry is a module type (``isinstance``) or a string
    matched (``fnmatch``, case-sensitive) against the qualified name or the class name, e.g.
    ``"head"``, ``"encoder.*"``, ``"Conv*"``."""
    for pattern in skip:
        if isinstance(pattern, type):
            if isinstance(module, pattern):
                return True
        elif isinstance(pattern, str):
            if (fnmatch.fnmatchcase(name, pattern)
                    or fnmatch.fnmatchcase(type(module).__name__, pattern)):
                return True
        else:
            raise TypeError(f"skip_layers entries must be module types or name patterns "
                            f"(str), got {pattern!r}")
    return False


def unsupported_layers(model: nn.Module, skip=()) -> dict[str, str]:
    """Modules with parameters of their own that K-FAC leaves to the base optimizer, with why."""
    functional = {f"{name}.out_proj" if name else "out_proj"
                  for name, module in model.named_modules()
                  if isinstance(module, nn.MultiheadAttention)}
    out = {}
    for name, module in model.named_modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if matches_skip(name, module, skip):
            out[name] = "skipped on request"
        elif name in functional:
            out[name] = HOOKLESS_REASON
        elif isinstance(module, _CONV_TYPES) and _conv_supported(module):
            out[name] = _conv_supported(module)
        elif not isinstance(module, SUPPORTED_LAYER_TYPES):
            out[name] = f"{type(module).__name__} has no Kronecker-factored form here"
    return out


def layer_gradient_matrix(module: nn.Module) -> torch.Tensor:
    """The layer's gradient as the matrix ``[∇W | ∇b]``, shape (out, in + 1) (no bias column
    when the layer has no bias). Convolution weights are flattened to (out, in_ch * kernel)."""
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
    a_batches, g_batches : int
        Steps averaged into each factor so far.
    """

    name: str
    module: nn.Module
    a_dim: int
    g_dim: int
    A: torch.Tensor | None = None
    G: torch.Tensor | None = None
    a_batches: int = 0
    g_batches: int = 0


@dataclasses.dataclass
class _Pending:
    """One step's unnormalised sums of a layer (all micro-batches and calls)."""

    a_sum: torch.Tensor | None = None
    samples: int = 0
    g_sum: torch.Tensor | None = None
    rows: int = 0
    forward_id: int = -1
    batch: int = 0


def _layer_dims(module: nn.Module) -> tuple[int, int]:
    has_bias = module.bias is not None
    if isinstance(module, nn.Linear):
        return module.in_features + has_bias, module.out_features
    return module.weight[0].numel() + has_bias, module.out_channels


def _add(total: torch.Tensor | None, term: torch.Tensor) -> torch.Tensor:
    return term if total is None else total + term


class FactorCapture:
    """Hooks on every supported layer of ``model`` that record Kronecker factors on request.

    Parameters
    ----------
    model : nn.Module
        Forward passes must go through it (a pre-hook on it marks where a pass starts).
    fisher : {"empirical", "mc"}
        Where the output gradients come from: the training loss's backward pass, or an extra
        backward pass with sampled labels (:meth:`sample_fisher`, call it before the loss's
        ``backward()``).
    loss_reduction : {"mean", "sum"}
        How the training loss combines the samples of dimension 0; "mean" rescales output
        gradients by the batch size (and ``accumulation_steps``) to per-sample gradients.
    factor_dtype : torch.dtype
        Precision of the running factors.
    skip : iterable of str or type
        Supported modules to leave to the base optimizer (see :func:`matches_skip`).
    accumulation_steps : int
        Micro-batches per optimizer step whose losses were each divided by this number
        (``loss_reduction="mean"`` only; the sum reduction needs no division).
    grad_scaler : torch.amp.GradScaler or None
        Its ``get_scale()`` at backward time divides the recorded output gradients.
    """

    def __init__(self, model: nn.Module, *, fisher: str = "empirical", loss_reduction: str = "mean",
                 factor_dtype: torch.dtype = torch.float32, skip=(), accumulation_steps: int = 1,
                 grad_scaler=None):
        if fisher not in ("empirical", "mc"):
            raise ValueError(f"fisher must be 'empirical' or 'mc', got {fisher!r}")
        if loss_reduction not in ("mean", "sum"):
            raise ValueError(f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}")
        if (isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int)
                or accumulation_steps < 1):
            raise ValueError(f"accumulation_steps must be a positive int, got "
                             f"{accumulation_steps!r}")
        self.fisher = fisher
        self.loss_reduction = loss_reduction
        self.factor_dtype = factor_dtype
        self.accumulation_steps = accumulation_steps
        self.grad_scaler = grad_scaler
        self.unsupported = unsupported_layers(model, skip)
        self.layers: dict[str, LayerFactors] = {}
        self.nonfinite_batches = 0
        self.recording = False
        self.ever_called: set[str] = set()
        self.forward_passes = 0
        self._pending: dict[str, _Pending] = {}
        self._outputs: dict[str, list[tuple[torch.Tensor, int]]] = {}
        self._handles = [model.register_forward_pre_hook(self._new_forward)]
        for name, module in model.named_modules():
            if not isinstance(module, SUPPORTED_LAYER_TYPES) or name in self.unsupported:
                continue
            if not module.weight.requires_grad:
                continue
            self.layers[name] = LayerFactors(name, module, *_layer_dims(module))
            self._handles.append(module.register_forward_hook(self._forward_hook(name)))

    def remove(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def drop_layer(self, name: str, reason: str) -> None:
        """Stop handling a layer: it moves to :attr:`unsupported` with ``reason``."""
        self.layers.pop(name, None)
        self._pending.pop(name, None)
        self._outputs.pop(name, None)
        self.unsupported[name] = reason

    # --- hooks ------------------------------------------------------------------------------
    def _new_forward(self, module, inputs):
        self.forward_passes += 1

    def _forward_hook(self, name):
        def hook(module, inputs, output):
            self.ever_called.add(name)
            if not (self.recording and module.training and torch.is_grad_enabled()):
                return
            if name not in self.layers:
                return
            x = inputs[0].detach()
            if isinstance(module, _CONV_TYPES) and x.dim() == module.weight.dim() - 1:
                x = x.unsqueeze(0)                   # unbatched convolution input
            batch = x.shape[0] if x.dim() > 1 else 1
            self._count_samples(name, batch)
            rows = self._a_rows(module, x)
            pending = self._pending[name]
            pending.a_sum = _add(pending.a_sum, rows.T @ rows)
            if self.fisher == "mc":
                self._outputs.setdefault(name, []).append((output, batch))
            elif output.requires_grad:
                output.register_hook(lambda grad: self._record_g(name, module, grad, batch))
        return hook

    def _count_samples(self, name: str, batch: int) -> None:
        pending = self._pending.setdefault(name, _Pending())
        if pending.forward_id != self.forward_passes or batch != pending.batch:
            pending.forward_id, pending.batch = self.forward_passes, batch
            pending.samples += batch

    def _record_g(self, name, module, grad, batch):
        scale = float(batch * self.accumulation_steps) if self.loss_reduction == "mean" else 1.0
        if self.grad_scaler is not None:
            scale = scale / float(self.grad_scaler.get_scale())
        self._add_g(name, module, grad.detach(), scale)

    def _a_rows(self, module, x: torch.Tensor) -> torch.Tensor:
        """The inputs ``ā`` as rows: one per (sample, position), bias coordinate appended."""
        x = x.to(self.factor_dtype)
        if isinstance(module, _CONV_TYPES):
            one_d = isinstance(module, nn.Conv1d)
            if one_d:      # a Conv1d is a Conv2d of height 1
                x = x.unsqueeze(2)
            def pair(v, height):
                return (height, v[0]) if one_d else tuple(v)
            x = F.unfold(x, pair(module.kernel_size, 1), dilation=pair(module.dilation, 1),
                         padding=pair(module.padding, 0), stride=pair(module.stride, 1))
            x = x.transpose(1, 2).reshape(-1, x.shape[1])        # (B*T, C*kernel)
        else:
            x = x.reshape(-1, x.shape[-1])
        if module.bias is not None:
            x = torch.cat([x, x.new_ones(x.shape[0], 1)], dim=1)
        return x

    def _add_g(self, name, module, g: torch.Tensor, scale: float) -> None:
        if name not in self.layers:
            return
        g = g.to(self.factor_dtype)
        if scale != 1.0:
            g = g * scale
        if isinstance(module, _CONV_TYPES):
            if g.dim() == module.weight.dim() - 1:
                g = g.unsqueeze(0)                   # unbatched convolution output
            g = g.flatten(2).transpose(1, 2)                      # (B, T, out)
        g = g.reshape(-1, g.shape[-1])
        pending = self._pending.setdefault(name, _Pending())
        pending.g_sum = _add(pending.g_sum, g.T @ g)
        pending.rows += g.shape[0]

    # --- Monte-Carlo Fisher -------------------------------------------------------------------
    def sample_fisher(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Record G from labels sampled from ``softmax(logits)`` (one sample per row).

        Runs ``torch.autograd.grad`` of the cross-entropy of the sampled labels with respect to
        the recorded layer outputs (every call), keeping the graph for the training loss's
        ``backward()``. Parameters' ``.grad`` are untouched. Only for ``fisher="mc"`` and
        classification logits of shape (batch, classes).
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
        calls = [(name, out, batch) for name, outs in self._outputs.items()
                 for out, batch in outs]
        grads = torch.autograd.grad(loss, [out for _, out, _ in calls], retain_graph=True,
                                    allow_unused=True)
        for (name, _, batch), grad in zip(calls, grads):
            if grad is not None:
                scale = float(batch) if self.loss_reduction == "mean" else 1.0
                self._add_g(name, self.layers[name].module, grad, scale)
        self._outputs.clear()

    # --- the step's sums, for all-reducing across processes -----------------------------------
    def pack_pending(self, device=None) -> torch.Tensor:
        """This step's unnormalised sums as one flat ``factor_dtype`` tensor (per layer, in
        :attr:`layers` order: ΣāāᵀA, samples, Σggᵀ, g rows); zeros where nothing was recorded.
        Summing the packs of several processes and :meth:`unpack_pending` gives the factors of
        their union batch."""
        parts = []
        for name, layer in self.layers.items():
            p = self._pending.get(name, _Pending())
            for total, size, count in ((p.a_sum, layer.a_dim, p.samples),
                                       (p.g_sum, layer.g_dim, p.rows)):
                if total is None:
                    total = torch.zeros(size, size, dtype=self.factor_dtype, device=device)
                parts += [total.reshape(-1).to(device),
                          torch.tensor([float(count)], dtype=self.factor_dtype, device=device)]
        if not parts:
            return torch.zeros(0, dtype=self.factor_dtype, device=device)
        return torch.cat(parts)

    def unpack_pending(self, flat: torch.Tensor) -> None:
        """Replace this step's sums by those of ``flat`` (a :meth:`pack_pending` layout)."""
        pos, pending = 0, {}
        for name, layer in self.layers.items():
            p = _Pending()
            for kind, size in (("a", layer.a_dim), ("g", layer.g_dim)):
                total = flat[pos:pos + size * size].reshape(size, size)
                count = int(round(float(flat[pos + size * size])))
                pos += size * size + 1
                if count:
                    if kind == "a":
                        p.a_sum, p.samples = total, count
                    else:
                        p.g_sum, p.rows = total, count
            pending[name] = p
        self._pending = pending

    # --- averaging ----------------------------------------------------------------------------
    def update_factors(self, decay: float) -> int:
        """Fold the step's factors (sums over all recorded passes, normalised) into the running
        averages; returns how many batch factors were dropped for being non-finite (also added
        to :attr:`nonfinite_batches`)."""
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"factor decay must lie in [0, 1), got {decay}")
        dropped = 0
        for name, layer in self.layers.items():
            p = self._pending.get(name, _Pending())
            batches = (("A", None if p.a_sum is None else p.a_sum / p.samples),
                       ("G", None if p.g_sum is None or not p.rows else p.g_sum / p.rows))
            for kind, batch in batches:
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
        self._pending.clear()
        self._outputs.clear()
        self.nonfinite_batches += dropped
        return dropped

    def state_dict(self) -> dict:
        """Tensors and plain Python values only (loads with ``torch.load(weights_only=True)``)."""
        return {
            "factors": {name: {"A": l.A, "G": l.G, "a_batches": l.a_batches,
                               "g_batches": l.g_batches} for name, l in self.layers.items()},
            "nonfinite_batches": self.nonfinite_batches,
            "unsupported": dict(self.unsupported),
        }

    def load_state_dict(self, state: dict) -> None:
        for name, reason in state.get("unsupported", {}).items():
            if name in self.layers:
                self.drop_layer(name, reason)
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
