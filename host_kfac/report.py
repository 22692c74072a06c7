"""Plots of training runs (matplotlib, Agg backend, small PNGs)."""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["plot_curves", "plot_mean_curves", "plot_bits"]

_DPI = 80
_SIZE = (6.0, 3.6)


def _figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI)
    return plt, fig, ax


def _save(plt, fig, path: pathlib.Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def _xy(m: dict, key: str):
    if key == "loss":
        return np.arange(1, len(m["loss"]) + 1), np.asarray(m["loss"])
    return np.asarray(m["eval_steps"]), np.asarray(m[key])


def plot_curves(runs: list[dict], key: str, path, *, title: str = "") -> None:
    """One line per run of ``key`` ("loss": training loss per step, or "test_accuracy")."""
    plt, fig, ax = _figure()
    for m in runs:
        x, y = _xy(m, key)
        ax.plot(x, y, label=m["label"], lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)" if key == "loss" else key.replace("_", " "))
    if key == "loss":
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(plt, fig, pathlib.Path(path))


def plot_mean_curves(groups: dict[str, list[dict]], key: str, path, *, title: str = "",
                     ylim=None, log_steps: bool = False) -> None:
    """Mean over seeds (line) and min..max band of ``key`` for each group of runs; a
    logarithmic step axis with ``log_steps`` (the early steps are where optimizers differ)."""
    plt, fig, ax = _figure()
    for label, runs in groups.items():
        curves = [_xy(m, key) for m in runs]
        length = min(len(y) for _, y in curves)
        x = curves[0][0][:length]
        ys = np.stack([y[:length] for _, y in curves])
        line, = ax.plot(x, ys.mean(0), label=label, lw=1.2)
        ax.fill_between(x, ys.min(0), ys.max(0), color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (minibatch)" if key == "loss" else key.replace("_", " "))
    if key == "loss":
        ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    if log_steps:
        from matplotlib.ticker import NullFormatter, ScalarFormatter
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(plt, fig, pathlib.Path(path))


def plot_bits(curves: dict[str, tuple[list[int], list[float], list[float]]], path, *,
              reference: dict[str, float] | None = None, title: str = "") -> None:
    """Final test accuracy against bit width: ``curves[label] = (bits, mean, std)``; horizontal
    dashed lines for ``reference[label] = accuracy``."""
    plt, fig, ax = _figure()
    for label, (bits, mean, std) in curves.items():
        ax.errorbar(bits, mean, yerr=std, marker="o", capsize=3, label=label, lw=1.2)
    for label, value in (reference or {}).items():
        ax.axhline(value, ls="--", lw=1, color="grey")
        ax.text(ax.get_xlim()[0], value, f" {label}", fontsize=7, va="bottom", color="grey")
    ax.set_xlabel("bits")
    ax.set_ylabel("final test accuracy")
    ax.set_xticks(sorted({b for bits, _, _ in curves.values() for b in bits}))
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(plt, fig, pathlib.Path(path))
