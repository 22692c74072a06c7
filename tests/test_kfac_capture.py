"""Kronecker factors against their definitions, computed sample by sample on tiny networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kfac_helpers import tiny_batch, tiny_net
from thermospu.host_kfac.capture import FactorCapture, unsupported_layers


def per_sample_output_grads(net, x, labels):
    """Gradients of each sample's own loss with respect to the conv and linear outputs."""
    conv_grads, lin_grads = [], []
    for i in range(len(x)):
        conv_out = net[0](x[i:i + 1])
        lin_out = net[3](net[2](net[1](conv_out)))
        loss = F.cross_entropy(lin_out, labels[i:i + 1])
        gc, gl = torch.autograd.grad(loss, [conv_out, lin_out])
        conv_grads.append(gc[0])
        lin_grads.append(gl[0])
    return torch.stack(conv_grads), torch.stack(lin_grads)


def expected_factors(net, x, labels, bias=True):
    """A = E_i[Σ_t ā ā^T], G = E_i[(1/T) Σ_t g g^T] built with explicit loops over samples and
    output positions."""
    conv, lin = net[0], net[3]
    gc, gl = per_sample_output_grads(net, x, labels)
    h = net[2](net[1](conv(x))).detach()
    B = len(x)
    a_conv = torch.zeros(8 + bias, 8 + bias)
    g_conv = torch.zeros(3, 3)
    for i in range(B):
        for r in range(2):
            for c in range(2):
                patch = x[i, :, r:r + 2, c:c + 2].reshape(-1)
                if bias:
                    patch = torch.cat([patch, torch.ones(1)])
                a_conv += torch.outer(patch, patch) / B
                g = gc[i, :, r, c]
                g_conv += torch.outer(g, g) / (B * 4)
    a_lin = torch.zeros(12 + bias, 12 + bias)
    g_lin = torch.zeros(4, 4)
    for i in range(B):
        a = torch.cat([h[i], torch.ones(1)]) if bias else h[i]
        a_lin += torch.outer(a, a) / B
        g_lin += torch.outer(gl[i], gl[i]) / B
    return {"0": (a_conv, g_conv), "3": (a_lin, g_lin)}


@pytest.mark.parametrize("bias", [True, False])
def test_empirical_factors_equal_per_sample_expectations(bias):
    net = tiny_net(bias=bias)
    x, labels = tiny_batch()
    capture = FactorCapture(net)
    capture.recording = True
    F.cross_entropy(net(x), labels).backward()
    capture.update_factors(decay=0.5)
    for name, (a, g) in expected_factors(net, x, labels, bias).items():
        layer = capture.layers[name]
        assert layer.a_dim == a.shape[0] and layer.g_dim == g.shape[0]
        torch.testing.assert_close(layer.A, a, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(layer.G, g, rtol=1e-5, atol=1e-7)


def test_sum_reduction_needs_no_batch_rescaling():
    net = tiny_net()
    x, labels = tiny_batch()
    mean_capture = FactorCapture(net)
    mean_capture.recording = True
    F.cross_entropy(net(x), labels).backward()
    mean_capture.update_factors(0.0)
    mean_capture.remove()
    sum_capture = FactorCapture(net, loss_reduction="sum")
    sum_capture.recording = True
    F.cross_entropy(net(x), labels, reduction="sum").backward()
    sum_capture.update_factors(0.0)
    for name in ("0", "3"):
        torch.testing.assert_close(sum_capture.layers[name].G, mean_capture.layers[name].G)


def test_monte_carlo_fisher_uses_sampled_labels():
    net = tiny_net()
    x, labels = tiny_batch()
    capture = FactorCapture(net, fisher="mc")
    capture.recording = True
    logits = net(x)
    capture.sample_fisher(logits, torch.Generator().manual_seed(5))
    # The training loss's backward must not overwrite the MC factor.
    F.cross_entropy(logits, labels).backward()
    capture.update_factors(0.0)
    probs = torch.softmax(logits.detach().double(), -1)
    sampled = torch.multinomial(probs, 1, generator=torch.Generator().manual_seed(5)).squeeze(-1)
    assert not torch.equal(sampled, labels)   # the check below would not tell them apart
    for name, (a, g) in expected_factors(net, x, sampled).items():
        torch.testing.assert_close(capture.layers[name].A, a, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(capture.layers[name].G, g, rtol=1e-5, atol=1e-7)


def test_moving_average_and_nonfinite_batches():
    net = tiny_net()
    capture = FactorCapture(net)
    batches = [tiny_batch(seed) for seed in (1, 2)]
    expected = [expected_factors(net, x, y) for x, y in batches]   # not recorded
    capture.recording = True
    for x, y in batches:
        net.zero_grad()
        F.cross_entropy(net(x), y).backward()
        capture.update_factors(decay=0.75)
    for name in ("0", "3"):
        for k, kind in enumerate("AG"):
            want = 0.75 * expected[0][name][k] + 0.25 * expected[1][name][k]
            torch.testing.assert_close(getattr(capture.layers[name], kind), want,
                                       rtol=1e-5, atol=1e-6)
    before = {n: (l.A.clone(), l.G.clone()) for n, l in capture.layers.items()}
    x, y = batches[0]
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    with pytest.warns(RuntimeWarning, match="non-finite"):
        dropped = capture.update_factors(decay=0.75)
    assert dropped == 4 and capture.nonfinite_batches == 4   # A and G of both layers
    for name, layer in capture.layers.items():
        assert torch.equal(layer.A, before[name][0]) and torch.equal(layer.G, before[name][1])


def test_eval_and_no_grad_forwards_are_not_recorded():
    net = tiny_net()
    capture = FactorCapture(net)
    capture.recording = True
    x, _ = tiny_batch()
    with torch.no_grad():
        net(x)
    net.eval()
    net(x)
    capture.update_factors(0.0)
    assert all(l.A is None and l.G is None for l in capture.layers.values())


def test_unsupported_layers_are_listed_and_left_alone():
    net = nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.BatchNorm2d(4), nn.Flatten(),
                        nn.Linear(4, 3), nn.Linear(3, 2))
    reasons = unsupported_layers(net, skip={"4"})
    assert set(reasons) == {"0", "1", "4"}
    assert "groups=2" in reasons["0"] and "BatchNorm2d" in reasons["1"]
    capture = FactorCapture(net, skip={"4"})
    assert list(capture.layers) == ["3"]


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="fisher"):
        FactorCapture(tiny_net(), fisher="true")
    with pytest.raises(ValueError, match="loss_reduction"):
        FactorCapture(tiny_net(), loss_reduction="none")
    capture = FactorCapture(tiny_net())
    with pytest.raises(ValueError, match="decay"):
        capture.update_factors(1.0)
    with pytest.raises(RuntimeError, match="fisher='mc'"):
        capture.sample_fisher(torch.zeros(2, 4))
