"""Shared pieces of the K-FAC tests: tiny networks and a fake device with exact answers."""

from __future__ import annotations

import types

import numpy as np
import torch
from torch import nn

from thermospu.driver.errors import DeviceError


def tiny_net(seed: int = 0, bias: bool = True) -> nn.Sequential:
    """Conv2d(2->3, 2x2) on 3x3 inputs, tanh, Linear(12->4): factors A 9/13, G 3/4."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 2, bias=bias), nn.Tanh(), nn.Flatten(),
                         nn.Linear(12, 4, bias=bias))


def tiny_batch(seed: int = 1, batch: int = 6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 2, 3, 3, generator=g), torch.randint(0, 4, (batch,), generator=g)


class ExactDevice:
    """Stands in for a driver Device: exact solve/inv in float64 (with the diagnostics the
    solvers read), a call log, injected failures.

    ``fail_on`` holds call indices (0-based) that raise ``DeviceError``."""

    def __init__(self, n: int = 64, fail_on=()):
        self.config = types.SimpleNamespace(n=n)
        self.description = "exact fake device"
        self.calls = []
        self.loads = 0
        self.fail_on = set(fail_on)

    def _log(self, kind, A, seed):
        index = len(self.calls)
        self.calls.append((kind, A.shape[0], seed))
        if index in self.fail_on:
            raise DeviceError(f"injected failure on call {index}")
        return types.SimpleNamespace(steps=100 * A.shape[0], samples=10, saturations=0)

    def load(self, A):
        self.loads += 1
        return np.array(A)

    def inv_with_info(self, A, *, samples=None, tol=None, seed=None):
        info = self._log("inv", A, seed)
        return np.linalg.inv(A), info

    def solve_with_info(self, A, b, *, samples=None, tol=None, seed=None):
        info = self._log("solve", A, seed)
        return np.linalg.solve(A, b), info
