"""The standard comparison: first-order baselines against digital and thermodynamic K-FAC.

:func:`run_comparison` trains, on one data set and model, for several seeds:

- Adam and SGD (momentum 0.9), each over a small learning-rate sweep;
- K-FAC with the digital (Cholesky) solver;
- thermodynamic K-FAC on the SPU at 8-bit input and output quantization, Method 1 (inverse)
  and Method 2 (linsolve);
- the paper's robustness experiment: Method 1 with only the input (coupling matrix DAC) or only
  the output (ADC) quantized to 4, 6, 8, 12, 16 bits, the other side at 16 bits;

then times a K-FAC step against an SGD step side by side (:func:`~.train.measure_step_times`)
and writes ``report.md``, ``summary.json`` and PNG plots. :data:`QUICK` is the short version
(one seed, no sweeps) behind ``thermospu compare --quick`` and the README's demo.

Every run of a plan uses the plan's model (``model``, ``hidden``, ``channels``, ``activation``),
``batch_size`` and K-FAC update intervals; the SPU runs use its ``device`` URI.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import time

import numpy as np

from .train import DEFAULT_LR, TrainConfig, measure_step_times, set_threads, train

__all__ = ["ComparisonPlan", "FULL", "QUICK", "plan_runs", "run_comparison", "summarize",
           "write_report"]


@dataclasses.dataclass(frozen=True)
class ComparisonPlan:
    """What the comparison runs (see the module docstring). ``hidden``, ``channels`` and
    ``activation`` are :class:`~.train.TrainConfig`'s (None: the model's default)."""

    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    activation: str = "tanh"
    batch_size: int = 128
    inv_update_interval: int = 10
    factor_update_interval: int = 1
    device: str = "model"
    steps: int = 200
    eval_every: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    adam_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    sgd_lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    methods: tuple[str, ...] = ("inverse", "linsolve")
    bits: tuple[int, ...] = (4, 6, 8, 12, 16)
    main_bits: int = 8
    clean_bits: int = 16
    samples: int = 2000
    timing_steps: int = 100


FULL = ComparisonPlan()
QUICK = ComparisonPlan(steps=100, seeds=(0,), adam_lrs=(3e-3,), sgd_lrs=(0.1,),
                       methods=("inverse",), bits=(), timing_steps=50)


def plan_runs(plan: ComparisonPlan) -> list[tuple[str, TrainConfig]]:
    """(group, config) of every run, groups named for the report."""
    base = dict(_model_fields(plan), steps=plan.steps, eval_every=plan.eval_every,
                samples=plan.samples)
    runs = []
    for seed in plan.seeds:
        for lr in plan.adam_lrs:
            runs.append((f"adam lr={lr:g}", TrainConfig(optimizer="adam", lr=lr, seed=seed, **base)))
        for lr in plan.sgd_lrs:
            runs.append((f"sgd lr={lr:g}", TrainConfig(optimizer="sgd", lr=lr, seed=seed, **base)))
        runs.append(("K-FAC digital", TrainConfig(optimizer="kfac", seed=seed, **base)))
        for method in plan.methods:
            name = "M1 inverse" if method == "inverse" else "M2 linsolve"
            runs.append((f"K-FAC SPU {name} {plan.main_bits}/{plan.main_bits}",
                         TrainConfig(optimizer="kfac", solver="spu", method=method, seed=seed,
                                     in_bits=plan.main_bits, out_bits=plan.main_bits,
                                     device=plan.device, **base)))
        for bits in plan.bits:
            for side in ("in", "out"):
                in_bits = bits if side == "in" else plan.clean_bits
                out_bits = bits if side == "out" else plan.clean_bits
                runs.append((f"sweep {side} {bits}",
                             TrainConfig(optimizer="kfac", solver="spu", method="inverse",
                                         seed=seed, in_bits=in_bits, out_bits=out_bits,
                                         device=plan.device, **base)))
    return runs


def _model_fields(plan: ComparisonPlan) -> dict:
    """The :class:`TrainConfig` fields every run of ``plan`` shares."""
    return dict(dataset=plan.dataset, model=plan.model, hidden=plan.hidden,
                channels=plan.channels, activation=plan.activation, batch_size=plan.batch_size,
                inv_update_interval=plan.inv_update_interval,
                factor_update_interval=plan.factor_update_interval)


def _run_one(item):
    group, cfg, cache = item
    if cache is not None and cache.exists():
        # Identical configurations share a file (the 16/16 point of both sweeps): the group is
        # this run's, not the writer's.
        return {**json.loads(cache.read_text()), "group": group}
    set_threads(1)
    started = time.perf_counter()
    metrics = train(cfg, progress=False)
    metrics["group"] = group
    metrics["run_wall_s"] = time.perf_counter() - started
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(metrics))
    return metrics


def _one_emulator_thread() -> None:
    """Initializer of the parallel comparison's workers: the emulated SPU runs its chains on
    one thread, as the workers already fill the CPUs."""
    from thermospu.rtl.spec.kernel import THREADS_ENV
    os.environ[THREADS_ENV] = "1"


def _cache_path(cache_dir, cfg: TrainConfig):
    """One file per distinct configuration, so an interrupted comparison resumes."""
    if cache_dir is None:
        return None
    key = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest()
    return pathlib.Path(cache_dir) / f"{key[:20]}.json"


def run_comparison(plan: ComparisonPlan = FULL, out_dir="runs/compare", *, jobs: int | None = None,
                   progress: bool = True, cache_dir=None,
                   command: str = "thermospu.host_kfac.compare.run_comparison") -> dict:
    """Run ``plan`` with ``jobs`` worker processes (default: CPU count), write the report into
    ``out_dir`` and return the summary. With ``cache_dir`` each finished run's metrics are kept
    there and reused by a later call with the same configuration (resuming an interrupted
    comparison)."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    planned = [(group, cfg, _cache_path(cache_dir, cfg)) for group, cfg in plan_runs(plan)]
    # The SPU runs dominate; start them first so the pool's tail is short.
    runs = sorted(planned, key=lambda r: (r[1].solver != "spu", r[1].method != "linsolve"))
    jobs = jobs or os.cpu_count() or 1
    started = time.perf_counter()
    results = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(runs), desc="comparison runs", unit="run")
    if jobs == 1:
        for item in runs:
            results.append(_run_one(item))
            if bar is not None:
                bar.update(1)
    else:
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context,
                                                    initializer=_one_emulator_thread) as pool:
            for metrics in pool.map(_run_one, runs):
                results.append(metrics)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    order = {id(item[1]): i for i, item in enumerate(planned)}
    results = [m for _, m in sorted(zip(runs, results), key=lambda pair: order[id(pair[0][1])])]
    set_threads(1)
    timing = {}
    spu = "emulated" if plan.device == "model" else plan.device
    for name, cfg in (("K-FAC digital", TrainConfig(**_model_fields(plan))),
                      (f"K-FAC SPU M1 {plan.main_bits}/{plan.main_bits} ({spu})",
                       TrainConfig(**_model_fields(plan), solver="spu", device=plan.device,
                                   in_bits=plan.main_bits, out_bits=plan.main_bits,
                                   samples=plan.samples))):
        timing[name] = measure_step_times(cfg, steps=plan.timing_steps)
    summary = summarize(results, plan)
    summary["step_time"] = timing
    summary["total_wall_s"] = time.perf_counter() - started
    summary["jobs"] = jobs
    summary["command"] = command
    write_report(summary, results, plan, out_dir)
    return summary


def _groups(results) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for m in results:
        groups.setdefault(m["group"], []).append(m)
    for runs in groups.values():
        runs.sort(key=lambda m: m["config"]["seed"])
    return groups


def _mean_curve(runs, key="test_accuracy"):
    length = min(len(m[key]) for m in runs)
    return (np.asarray(runs[0]["eval_steps"][:length]),
            np.mean([m[key][:length] for m in runs], axis=0))


def _first_step(metrics: dict, level: float):
    hit = [s for s, a in zip(metrics["eval_steps"], metrics["test_accuracy"]) if a >= level - 1e-9]
    return hit[0] if hit else None


def summarize(results: list[dict], plan: ComparisonPlan) -> dict:
    """Per group: final/best test accuracy (mean, std over seeds), steps to reach the best Adam
    accuracy (on the seed-mean curve, and per seed), wall time and SPU work per step."""
    groups = _groups(results)
    adam = {g: runs for g, runs in groups.items() if g.startswith("adam")}
    target_group = max(adam, key=lambda g: _mean_curve(adam[g])[1].max()) if adam else None
    target = float(_mean_curve(adam[target_group])[1].max()) if adam else None
    table = {}
    for group, runs in groups.items():
        final = np.array([m["final_test_accuracy"] for m in runs])
        steps_axis, mean_curve = _mean_curve(runs)
        row = {
            "seeds": len(runs),
            "final_mean": float(final.mean()),
            "final_std": float(final.std(ddof=1)) if len(runs) > 1 else 0.0,
            "best_of_mean_curve": float(mean_curve.max()),
            "wall_s_per_step": float(np.mean([m["wall_s_total"] / len(m["loss"]) for m in runs])),
            "spu_steps_per_step": float(np.mean([m["spu_steps"][-1] / len(m["loss"])
                                                 for m in runs])),
            "device_jobs": float(np.mean([m["solver_metrics"].get("device_jobs", 0) for m in runs])),
            "fallbacks": int(sum(m["solver_metrics"].get("fallbacks", 0) for m in runs)),
            "diverged": int(sum(m["diverged"] for m in runs)),
            "config": {k: runs[0]["config"][k] for k in ("optimizer", "lr", "solver", "method",
                                                          "in_bits", "out_bits")},
        }
        if target is not None:
            for key, level in (("steps_to_target", target), ("steps_to_99pct_target", 0.99 * target)):
                reached = np.nonzero(mean_curve >= level - 1e-9)[0]
                row[key] = int(steps_axis[reached[0]]) if reached.size else None
                row[key + "_per_seed"] = [_first_step(m, level) for m in runs]
        table[group] = row
    return {"plan": dataclasses.asdict(plan), "target_group": target_group,
            "target_accuracy": target, "groups": table}


def _model_name(cfg: TrainConfig) -> str:
    """``mlp``, or e.g. ``cnn 8-8 conv, hidden 128-128, relu`` when not the default model."""
    default = TrainConfig(dataset=cfg.dataset, model=cfg.model)
    parts = [cfg.model]
    if cfg.channels != default.channels:
        parts.append("conv " + "-".join(map(str, cfg.channels)))
    if cfg.hidden != default.hidden:
        parts.append("hidden " + ("-".join(map(str, cfg.hidden)) or "none"))
    if cfg.activation != default.activation:
        parts.append(cfg.activation)
    return parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")


def _device_words(device: str) -> str:
    if device == "model":
        return "the emulated SPU (bit-exact golden model, `--device model`)"
    return f"the SPU at `--device {device}`"


def _fmt_steps(value) -> str:
    return "not reached" if value is None else str(value)


def write_report(summary: dict, results: list[dict], plan: ComparisonPlan, out_dir) -> None:
    """``report.md`` with the tables and ``*.png`` plots in ``out_dir``; ``summary.json``."""
    from .report import plot_bits, plot_mean_curves
    out_dir = pathlib.Path(out_dir)
    groups = _groups(results)
    rows = summary["groups"]
    main_bits = plan.main_bits
    kfac = TrainConfig(**_model_fields(plan))
    main = [g for g in groups if not g.startswith("sweep")]
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))

    best_adam = summary["target_group"]
    best_sgd = max((g for g in groups if g.startswith("sgd")),
                   key=lambda g: rows[g]["best_of_mean_curve"], default=None)
    headline = [g for g in main if g in (best_adam, best_sgd) or g.startswith("K-FAC")]
    title = f"{plan.dataset} / {_model_name(kfac)}, mean of {len(plan.seeds)} seed(s)"
    plot_mean_curves({g: groups[g] for g in headline}, "test_accuracy",
                     out_dir / "test_accuracy.png", title=title,
                     ylim=(max(0.0, summary["target_accuracy"] - 0.25), 1.0)
                     if summary["target_accuracy"] else None, log_steps=True)
    plot_mean_curves({g: groups[g] for g in headline}, "loss", out_dir / "train_loss.png",
                     title=title)
    if plan.bits:
        curves = {}
        for side, label in (("in", "input (DAC) quantized, output 16 bits"),
                            ("out", "output (ADC) quantized, input 16 bits")):
            bits, mean, std = [], [], []
            for b in plan.bits:
                group = f"sweep {side} {b}"
                if group in rows:
                    bits.append(b)
                    mean.append(rows[group]["final_mean"])
                    std.append(rows[group]["final_std"])
            curves[label] = (bits, mean, std)
        reference = {"K-FAC digital": rows["K-FAC digital"]["final_mean"]}
        if best_adam:
            reference[best_adam] = rows[best_adam]["final_mean"]
        plot_bits(curves, out_dir / "accuracy_vs_bits.png", reference=reference,
                  title=f"thermodynamic K-FAC (Method 1), {title}")

    lines = [f"# K-FAC comparison: {plan.dataset} / {_model_name(kfac)}", "",
             f"Generated by `{summary['command']}`; the runs took "
             f"{sum(m['run_wall_s'] for m in results) / 60:.0f} process-minutes (sum over runs, "
             f"{summary['jobs']} worker processes on a shared machine). "
             f"{plan.steps} steps of batch {plan.batch_size}, test accuracy every "
             f"{plan.eval_every} steps, seeds {list(plan.seeds)}. SPU runs use "
             f"{_device_words(plan.device)}, {plan.samples} samples per device job. "
             f"K-FAC: SGD momentum 0.9, "
             f"lr {DEFAULT_LR['kfac']:g}, damping {kfac.damping:g} "
             f"({'pi-adjusted' if kfac.pi_adjust else 'split evenly'}), factor decay "
             f"{kfac.factor_decay:g}, KL-clip {kfac.kl_clip:g}, factors every "
             f"{kfac.factor_update_interval} step(s), inverses every {kfac.inv_update_interval} "
             f"steps, {kfac.fisher} Fisher.", "",
             "## All optimizers", "",
             f"Target: the best test accuracy of the seed-mean curve of the best Adam run "
             f"(`{best_adam}`): **{summary['target_accuracy']:.4f}**. 'Steps to target' is the "
             f"first evaluation at which the seed-mean test accuracy reaches it (per seed in "
             f"brackets); near the plateau that is decided by a test sample or two, so the steps "
             f"to 99% of the target ({0.99 * summary['target_accuracy']:.4f}) are given too.", "",
             "| optimizer | final test acc (mean ± std) | best of mean curve | steps to target "
             "| steps to 99% of target | wall ms / step | SPU Euler steps / step | fallbacks |",
             "|---|---|---|---|---|---|---|---|"]
    for g in main:
        r = rows[g]
        cells = []
        for key in ("steps_to_target", "steps_to_99pct_target"):
            per_seed = ", ".join(_fmt_steps(s) for s in r.get(key + "_per_seed", []))
            cells.append(f"{_fmt_steps(r.get(key))} ({per_seed})")
        lines.append(f"| {g} | {r['final_mean']:.4f} ± {r['final_std']:.4f} | "
                     f"{r['best_of_mean_curve']:.4f} | {cells[0]} | {cells[1]} | "
                     f"{1e3 * r['wall_s_per_step']:.1f} | "
                     f"{r['spu_steps_per_step']:.0f} | {r['fallbacks']} |")
    lines += ["", "![test accuracy](test_accuracy.png)", "", "![training loss](train_loss.png)", ""]

    digital = rows["K-FAC digital"]
    lines += [f"## Thermodynamic K-FAC at {main_bits}-bit input and output vs digital K-FAC", "",
              "| solver | final test acc | difference to digital (points) |", "|---|---|---|",
              f"| K-FAC digital | {digital['final_mean']:.4f} ± {digital['final_std']:.4f} | 0 |"]
    for method in plan.methods:
        g = f"K-FAC SPU {'M1 inverse' if method == 'inverse' else 'M2 linsolve'} {main_bits}/{main_bits}"
        r = rows[g]
        lines.append(f"| {g} | {r['final_mean']:.4f} ± {r['final_std']:.4f} | "
                     f"{100 * (r['final_mean'] - digital['final_mean']):+.2f} |")
    lines.append("")

    if len(plan.methods) > 1:
        lines += ["## Method 1 (inverse) vs Method 2 (linear systems)", "",
                  "| method | final test acc | SPU Euler steps / training step (summed over "
                  f"chains) | device jobs / run | wall ms / step "
                  f"({'emulated' if plan.device == 'model' else plan.device}) |",
                  "|---|---|---|---|---|"]
        for method in plan.methods:
            g = f"K-FAC SPU {'M1 inverse' if method == 'inverse' else 'M2 linsolve'} {main_bits}/{main_bits}"
            r = rows[g]
            lines.append(f"| {g} | {r['final_mean']:.4f} ± {r['final_std']:.4f} | "
                         f"{r['spu_steps_per_step']:.0f} | {r['device_jobs']:.0f} | "
                         f"{1e3 * r['wall_s_per_step']:.1f} |")
        lines.append("")

    if plan.bits:
        lines += ["## Accuracy vs bits (Method 1): input vs output quantization", "",
                  f"One side quantized to the given width, the other at {plan.clean_bits} bits. "
                  f"Digital K-FAC: {digital['final_mean']:.4f}.", "",
                  "| bits | input quantized: final test acc | output quantized: final test acc |",
                  "|---|---|---|"]
        for b in plan.bits:
            cells = []
            for side in ("in", "out"):
                r = rows.get(f"sweep {side} {b}")
                cells.append("-" if r is None else f"{r['final_mean']:.4f} ± {r['final_std']:.4f}"
                             + (f" ({r['fallbacks']} fallbacks)" if r["fallbacks"] else ""))
            lines.append(f"| {b} | {cells[0]} | {cells[1]} |")
        lines += ["", "![accuracy vs bits](accuracy_vs_bits.png)", ""]

    lines += ["## Step time: K-FAC step / SGD step, measured side by side", "",
              f"Same model and batches, the two optimizers' steps interleaved "
              f"({plan.timing_steps} steps each, one thread); mean includes the inverse updates "
              f"every {plan.inv_update_interval} steps."
              + (" The SPU row times the bit-exact *emulation* on this CPU, not an SPU."
                 if plan.device == "model" else ""), "",
              "| K-FAC solver | SGD ms/step | K-FAC ms/step | ratio (mean) | ratio (median) |",
              "|---|---|---|---|---|"]
    for name, t in summary["step_time"].items():
        lines.append(f"| {name} | {1e3 * t['sgd_mean_s']:.2f} | {1e3 * t['kfac_mean_s']:.2f} | "
                     f"{t['ratio']:.1f} | {t['ratio_median']:.1f} |")
    lines.append("")
    (out_dir / "report.md").write_text("\n".join(lines))
