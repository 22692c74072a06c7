"""Checkpoints of a training run: everything needed to continue it exactly where it stopped.

A checkpoint holds the model, the optimizer (K-FAC's factors, inverses, solver counters and seed
stream included), the minibatch order's generator, the torch RNG state, the step reached and the
metrics so far. It is written atomically (a temporary file in the same folder, flushed to disk,
then renamed), so an interrupted write leaves the previous checkpoint intact, and it loads with
``torch.load(..., weights_only=True)``: tensors and plain Python values only.
"""

from __future__ import annotations

import os
import pathlib

import torch

__all__ = ["CHECKPOINT_NAME", "save_checkpoint", "load_checkpoint"]

#: File name of the checkpoint inside a run's checkpoint folder.
CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(folder: pathlib.Path, state: dict) -> pathlib.Path:
    """Write ``state`` to ``folder/checkpoint.pt`` atomically; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CHECKPOINT_NAME
    partial = folder / f".{CHECKPOINT_NAME}.partial"
    with open(partial, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
    return path


def load_checkpoint(folder: pathlib.Path) -> dict | None:
    """The state saved in ``folder``, or None when there is none yet."""
    path = folder / CHECKPOINT_NAME
    if not path.exists():
        return None
    return torch.load(path, weights_only=True)
