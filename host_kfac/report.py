"""Plots of training runs (matplotlib, Agg backend, small PNGs)."""

from __future__ import annotations

import pathlib

import numpy as np

__all__ = ["plot_curves", "plot_mean_curves", "plot_sweep", "plot_scatter",
           "plot_accuracy_and_error"]

_DPI = 80
_SIZE = (6.0, 3.6)


def _figure(columns: int = 1):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, columns, figsize=(_SIZE[0] * (1 + 0.6 * (columns - 1)), _SIZE[1]),
                           dpi=_DPI)
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


def _yerr(err):
    """``err`` as matplotlib's ``yerr``: None, half-widths (None entries drawn as 0), or a
    (below, above) pair of lists."""
    if err is None:
        return None
    if isinstance(err, tuple):
        return np.asarray(err, dtype=np.float64)
    return np.asarray([0.0 if e is None else e for e in err], dtype=np.float64)


def _references(ax, reference: dict[str, float] | None) -> None:
    for label, value in (reference or {}).items():
        ax.axhline(value, ls="--", lw=1, color="grey")
        ax.text(ax.get_xlim()[0], value, f" {label}", fontsize=7, va="bottom", color="grey")


def plot_sweep(curves: dict[str, tuple[list, list, object]], path, *, xlabel: str,
               ylabel: str, reference: dict[str, float] | None = None, title: str = "",
               log_x: bool = False, log_y: bool = False, ticks: bool = True) -> None:
    """A quantity against a swept parameter: ``curves[label] = (x, y, err)`` with ``err`` None,
    a list of half-widths (a 95 % interval) or a (below, above) pair of lists; horizontal dashed
    lines for ``reference[label] = value``; the x values as ticks when ``ticks``."""
    plt, fig, ax = _figure()
    for label, (x, y, err) in curves.items():
        ax.errorbar(x, y, yerr=_yerr(err), marker="o", capsize=3, label=label, lw=1.2)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    _references(ax, reference)
    if ticks:
        from matplotlib.ticker import NullFormatter
        ax.set_xticks(sorted({v for x, _, _ in curves.values() for v in x}))
        ax.set_xticklabels([f"{v:g}" for v in sorted({v for x, _, _ in curves.values()
                                                      for v in x})])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    _save(plt, fig, pathlib.Path(path))


def plot_scatter(points: dict[str, tuple[list[float], list[float]]], path, *, xlabel: str,
                 ylabel: str, title: str = "", log_x: bool = True) -> None:
    """One marker per run: ``points[label] = (x, y)``."""
    plt, fig, ax = _figure()
    for label, (x, y) in points.items():
        ax.scatter(x, y, s=14, label=label, alpha=0.8)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6)
    _save(plt, fig, pathlib.Path(path))


def plot_accuracy_and_error(x: list[float], accuracy: list[float], half: list, error: list,
                            error_p90: list, path, *, xlabel: str,
                            reference: dict[str, float] | None = None, title: str = "",
                            log_x: bool = False) -> None:
    """Two panels against a swept ``x``: final test accuracy with its 95 % interval
    (``half``), and the device error's median (marker) up to its 90th percentile (bar);
    ``reference`` lines on the accuracy panel."""
    plt, fig, (left, right) = _figure(2)
    left.errorbar(x, accuracy, yerr=_yerr(half), marker="o", capsize=3, lw=1.2)
    _references(left, reference)
    left.set_ylabel("final test accuracy")
    shown = [(v, e, p) for v, e, p in zip(x, error, error_p90) if e is not None]
    if shown:
        xs, med, p90 = (list(c) for c in zip(*shown))
        right.errorbar(xs, med, yerr=(np.zeros(len(med)), np.subtract(p90, med)), marker="o",
                       capsize=3, lw=1.2, color="C1")
        right.set_yscale("log")
    right.set_ylabel("device relative error (median..p90)")
    from matplotlib.ticker import NullFormatter
    for ax in (left, right):
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(list(x))
        ax.set_xticklabels([f"{v:g}" for v in x])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
    fig.suptitle(title, fontsize=9)
    _save(plt, fig, pathlib.Path(path))
