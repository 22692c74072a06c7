"""Kronecker factors against an independent reference, layer by layer.

The reference does not use the capture code or hooks: it recomputes each layer's output
functionally, takes per-sample output gradients from a sum-reduced loss (samples do not interact,
so row i of the gradient is sample i's own), unfolds convolution patches by explicit slicing, and
forms curvlinops' KFAC-expand factors ``A_cl = Σ_bt ā āᵀ / (B T)``, ``G_cl = Σ_bt g gᵀ / B``. The
capture's convention puts the 1/T on G instead (``A = T A_cl``, ``G = G_cl / T``): the products
``A ⊗ G`` must agree, and so must the factors themselves after that rescaling.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from thermospu.host_kfac.capture import FactorCapture
from thermospu.host_kfac.preconditioner import KFACPreconditioner

B, CLASSES = 5, 3


def _patches(layer, x):
    """(B, T, in) rows ``ā`` without the bias coordinate, by explicit slicing."""
    if isinstance(layer, nn.Linear):
        return x.reshape(x.shape[0], -1, x.shape[-1])
    k, s, p, d = (v[0] for v in (layer.kernel_size, layer.stride, layer.padding, layer.dilation))
    if isinstance(layer, nn.Conv1d):
        xp = F.pad(x, (p, p))
        span = d * (k - 1) + 1
        steps = (xp.shape[-1] - span) // s + 1
        return torch.stack([xp[:, :, t * s:t * s + span:d].reshape(x.shape[0], -1)
                            for t in range(steps)], dim=1)
    xp = F.pad(x, (p, p, p, p))
    rows = (xp.shape[-2] - k) // s + 1
    cols = (xp.shape[-1] - k) // s + 1
    return torch.stack([xp[:, :, r * s:r * s + k, c * s:c * s + k].reshape(x.shape[0], -1)
                        for r in range(rows) for c in range(cols)], dim=1)


def reference(layer, rest, x, y):
    """curvlinops-expand (A_cl, G_cl) of ``layer`` in ``rest(layer(x))`` with mean CE loss."""
    z = layer(x).detach().requires_grad_()
    loss = F.cross_entropy(rest(z), y, reduction="sum")      # per-sample gradients
    (g,) = torch.autograd.grad(loss, z)
    if not isinstance(layer, nn.Linear):
        g = g.flatten(2).transpose(1, 2)                       # (B, T, out)
    g = g.reshape(len(x), -1, g.shape[-1])
    a = _patches(layer, x)
    if layer.bias is not None:
        a = torch.cat([a, torch.ones(*a.shape[:2], 1)], dim=2)
    positions = a.shape[1]
    assert g.shape[1] == positions
    a, g = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
    return a.T @ a / (len(x) * positions), g.T @ g / len(x), positions


CASES = {
    "linear-2d": (lambda bias: nn.Linear(4, 6, bias=bias), (B, 4), 6),
    "linear-3d": (lambda bias: nn.Linear(4, 6, bias=bias), (B, 5, 4), 30),
    "conv1d": (lambda bias: nn.Conv1d(2, 3, 3, stride=2, padding=1, dilation=1, bias=bias),
               (B, 2, 9), 15),
    "conv1d-dilated": (lambda bias: nn.Conv1d(2, 3, 2, dilation=2, bias=bias), (B, 2, 7), 15),
    "conv2d": (lambda bias: nn.Conv2d(2, 3, 2, padding=1, bias=bias), (B, 2, 3, 3), 48),
}


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", list(CASES))
def test_factors_equal_the_expand_reference(case, bias):
    make, shape, flat = CASES[case]
    torch.manual_seed(3)
    layer = make(bias)
    head = nn.Linear(flat, CLASSES, bias=bias)
    rest = nn.Sequential(nn.Tanh(), nn.Flatten(), head)
    net = nn.Sequential(layer, rest)
    x, y = torch.randn(*shape, dtype=torch.float64), torch.randint(0, CLASSES, (B,))
    net.double()
    capture = FactorCapture(net, factor_dtype=torch.float64)
    capture.recording = True
    F.cross_entropy(net(x), y).backward()
    capture.update_factors(0.0)
    capture.recording = False
    h = rest[1](rest[0](layer(x))).detach()
    for name, module, inputs, after in (("0", layer, x, rest), ("1.2", head, h, nn.Identity())):
        a_cl, g_cl, positions = reference(module, after, inputs, y)
        got = capture.layers[name]
        torch.testing.assert_close(torch.kron(got.A, got.G), torch.kron(a_cl, g_cl),
                                   rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got.A, a_cl * positions, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(got.G, g_cl / positions, rtol=1e-10, atol=1e-12)


class SharedLinear(nn.Module):
    """One Linear called twice in a forward pass, then a head."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.head = nn.Linear(4, CLASSES)

    def forward(self, x):
        return self.head(torch.tanh(self.shared(torch.tanh(self.shared(x)))))


def test_a_layer_called_twice_accumulates_both_calls():
    torch.manual_seed(0)
    net = SharedLinear().double()
    x, y = torch.randn(B, 4, dtype=torch.float64), torch.randint(0, CLASSES, (B,))
    capture = FactorCapture(net, factor_dtype=torch.float64)
    capture.recording = True
    F.cross_entropy(net(x), y).backward()
    capture.update_factors(0.0)
    capture.recording = False
    # Reference: both calls' inputs and total output gradients, as two positions per sample.
    w, b = net.shared.weight, net.shared.bias
    z1 = F.linear(x, w, b)
    h1 = torch.tanh(z1)
    z2 = F.linear(h1, w, b)
    loss = F.cross_entropy(net.head(torch.tanh(z2)), y, reduction="sum")
    g1, g2 = torch.autograd.grad(loss, [z1, z2])
    ones = torch.ones(B, 1, dtype=torch.float64)
    a = torch.cat([torch.cat([x, ones], 1), torch.cat([h1.detach(), ones], 1)])
    g = torch.cat([g1, g2])
    layer = capture.layers["shared"]
    torch.testing.assert_close(layer.A, a.T @ a / B, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(layer.G, g.T @ g / (2 * B), rtol=1e-10, atol=1e-12)


class FunctionalUse(nn.Module):
    """Uses its child Linear's weight directly, so the child's hooks never fire."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.head = nn.Linear(4, CLASSES)

    def forward(self, x):
        return self.head(torch.tanh(F.linear(x, self.proj.weight, self.proj.bias)))


def test_hookless_layers_are_reported_as_skipped():
    attention = nn.Sequential()
    attention.add_module("mha", nn.MultiheadAttention(4, 2, batch_first=True))
    pre = KFACPreconditioner(attention)
    assert "mha.out_proj" not in pre.layers and "never fire" in pre.unsupported["mha.out_proj"]
    assert "MultiheadAttention" in pre.unsupported["mha"]

    torch.manual_seed(0)
    net = FunctionalUse()
    pre = KFACPreconditioner(net, damping=0.1)
    assert set(pre.layers) == {"proj", "head"}
    F.cross_entropy(net(torch.randn(B, 4)), torch.randint(0, CLASSES, (B,))).backward()
    grad = net.proj.weight.grad.clone()
    with pytest.warns(RuntimeWarning, match="never fire"):
        pre.step()
    assert set(pre.layers) == {"head"} and "never fire" in pre.unsupported["proj"]
    assert "proj" not in pre.describe().split("left to the base optimizer")[0]
    assert torch.equal(net.proj.weight.grad, grad)          # left alone, not clipped


def _factors_after(net, micro_batches, **options):
    capture = FactorCapture(net, factor_dtype=torch.float64, **options)
    capture.recording = True
    scaler = options.get("grad_scaler")
    for x, y in micro_batches:
        loss = F.cross_entropy(net(x), y) / len(micro_batches)
        (scaler.scale(loss) if scaler is not None else loss).backward()
    capture.update_factors(0.0)
    capture.remove()
    return {n: (l.A, l.G) for n, l in capture.layers.items()}


def test_gradient_accumulation_and_loss_scaling_give_the_full_batch_factors():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, CLASSES))
    net.double()
    x, y = torch.randn(8, 2, 6, dtype=torch.float64), torch.randint(0, CLASSES, (8,))
    full = _factors_after(net, [(x, y)])
    parts = [(x[:3], y[:3]), (x[3:], y[3:])]     # unequal micro-batches: weighted by samples
    accumulated = _factors_after(net, parts, accumulation_steps=2)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    scaled = _factors_after(net, [(x, y)], grad_scaler=scaler)
    for name, (a, g) in full.items():
        for got in (accumulated, scaled):
            torch.testing.assert_close(got[name][0], a, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(got[name][1], g, rtol=1e-10, atol=1e-12)
