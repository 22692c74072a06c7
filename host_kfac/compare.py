"""The standard comparison: first-order baselines against digital and thermodynamic K-FAC.

:func:`run_comparison` trains every run of a :class:`~.compare_plan.ComparisonPlan` (the groups
are listed in :mod:`.compare_plan`: Adam and SGD learning-rate sweeps, digital K-FAC, the SPU's
two methods at the main bits, the input/output bits sweep, the sampling sweep, the impairment
sweep) over several seeds, then times a K-FAC step against an SGD step side by side
(:func:`~.train.measure_step_times`), summarises (:func:`summarize`: final accuracy with a 95 %
t-interval over seeds, paired per-seed differences with theirs (:mod:`.compare_stats`), the
SPU's logged device error) and writes ``report.md``, ``summary.json`` and PNG plots
(:mod:`.compare_report`). :data:`~.compare_plan.QUICK` is the short version behind
``thermospu compare --quick`` and the README's demo.
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

from .compare_plan import (DIGITS, MNIST1D, PLANS, QUICK, WIDE, ComparisonPlan,
                           model_fields, plan_runs, spu_group)
from .compare_stats import paired_difference, t_interval
from .train import TrainConfig, measure_step_times, set_threads, train

__all__ = ["ComparisonPlan", "DIGITS", "QUICK", "MNIST1D", "WIDE", "PLANS", "plan_runs",
           "run_comparison", "summarize", "groups_of"]

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


def run_comparison(plan: ComparisonPlan = DIGITS, out_dir="runs/compare", *, jobs: int | None = None,
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
    for name, cfg in (("K-FAC digital", TrainConfig(**model_fields(plan))),
                      (f"K-FAC SPU M1 {plan.main_bits}/{plan.main_bits} ({spu})",
                       TrainConfig(**model_fields(plan), solver="spu", device=plan.device,
                                   in_bits=plan.main_bits, out_bits=plan.main_bits,
                                   samples=plan.samples, spu_n=plan.spu_n,
                                   split_blocks=plan.split_blocks))):
        timing[name] = measure_step_times(cfg, steps=plan.timing_steps)
    summary = summarize(results, plan)
    summary["step_time"] = timing
    summary["total_wall_s"] = time.perf_counter() - started
    summary["jobs"] = jobs
    summary["command"] = command
    from .compare_report import write_report
    write_report(summary, results, plan, out_dir)
    return summary


def groups_of(results) -> dict[str, list[dict]]:
    """The runs of each group (in the order first seen), each group sorted by seed."""
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


def _device_error(runs) -> dict:
    """Mean over the group's runs of each run's median and 90th-percentile device error (runs
    without logged errors left out; None when none has them)."""
    logged = [m["device_error"] for m in runs if m.get("device_error")]
    if not logged:
        return {"device_error_median": None, "device_error_p90": None}
    return {"device_error_median": float(np.mean([e["median"] for e in logged])),
            "device_error_p90": float(np.mean([e["p90"] for e in logged]))}


def _row(runs, target) -> dict:
    """One group's summary row (see :func:`summarize`)."""
    final = np.array([m["final_test_accuracy"] for m in runs])
    mean, half = t_interval(final)
    steps_axis, mean_curve = _mean_curve(runs)
    row = {
        "seeds": len(runs),
        "final_mean": mean,
        "final_ci95": half,
        "final_std": float(final.std(ddof=1)) if len(runs) > 1 else 0.0,
        "final_per_seed": {int(m["config"]["seed"]): float(m["final_test_accuracy"])
                           for m in runs},
        "best_of_mean_curve": float(mean_curve.max()),
        "wall_s_per_step": float(np.mean([m["wall_s_total"] / len(m["loss"]) for m in runs])),
        "spu_steps_per_step": float(np.mean([m["spu_steps"][-1] / len(m["loss"])
                                             for m in runs])),
        "device_jobs": float(np.mean([m["solver_metrics"].get("device_jobs", 0) for m in runs])),
        "fallbacks": int(sum(m["solver_metrics"].get("fallbacks", 0) for m in runs)),
        "diverged": int(sum(m["diverged"] for m in runs)),
        **_device_error(runs),
        "config": {k: runs[0]["config"][k] for k in ("optimizer", "lr", "solver", "method",
                                                      "in_bits", "out_bits", "samples",
                                                      "device")},
    }
    if target is not None:
        for key, level in (("steps_to_target", target), ("steps_to_99pct_target", 0.99 * target)):
            reached = np.nonzero(mean_curve >= level - 1e-9)[0]
            row[key] = int(steps_axis[reached[0]]) if reached.size else None
            row[key + "_per_seed"] = [_first_step(m, level) for m in runs]
    return row


def _differences(table: dict, best_adam, best_sgd) -> dict:
    """Paired per-seed differences of final accuracy (:func:`~.compare_stats.paired_difference`)
    that the report states, keyed ``"A vs B"`` (A minus B)."""
    pairs = []
    if "K-FAC digital" in table:
        pairs += [("K-FAC digital", best) for best in (best_adam, best_sgd) if best]
        pairs += [(g, "K-FAC digital") for g in table
                  if g.startswith(("K-FAC SPU", "sweep ", "samples ", "impair "))]
    if best_adam:
        pairs += [(g, best_adam) for g in table if g.startswith(("K-FAC SPU", "impair "))]
    out = {}
    for a, b in pairs:
        difference = paired_difference(table[a]["final_per_seed"], table[b]["final_per_seed"])
        out[f"{a} vs {b}"] = {"a": a, "b": b, **difference}
    return out


def _impairment_thresholds(table: dict, plan: ComparisonPlan, best_adam) -> dict:
    """Per impairment: the smallest size at which Method 1's mean final accuracy falls below the
    best Adam's (None: not within the sweep)."""
    out = {}
    for name, sizes in plan.impairments:
        below = [size for size in sorted(sizes) if best_adam and f"impair {name} {size:g}" in table
                 and table[f"impair {name} {size:g}"]["final_mean"]
                 < table[best_adam]["final_mean"]]
        out[name] = below[0] if below else None
    return out


def summarize(results: list[dict], plan: ComparisonPlan) -> dict:
    """Per group (``groups``): final test accuracy (mean, 95 % t-interval half-width ``final_ci95``
    and std over seeds, per seed), best of the seed-mean curve, steps to reach the best Adam
    accuracy (on the seed-mean curve, and per seed), wall time and SPU work per step, the mean
    over runs of each run's median and 90th-percentile device error. Then ``differences``
    (paired per-seed differences with 95 % t-intervals: digital K-FAC vs best Adam and best
    SGD, every SPU group vs digital K-FAC, the main SPU and impairment groups vs best Adam) and
    ``impairment_thresholds`` (the smallest size at which Method 1 falls below best Adam)."""
    groups = groups_of(results)
    adam = {g: runs for g, runs in groups.items() if g.startswith("adam")}
    sgd = {g: runs for g, runs in groups.items() if g.startswith("sgd")}
    target_group = max(adam, key=lambda g: _mean_curve(adam[g])[1].max()) if adam else None
    target = float(_mean_curve(adam[target_group])[1].max()) if adam else None
    best_sgd = max(sgd, key=lambda g: _mean_curve(sgd[g])[1].max()) if sgd else None
    table = {group: _row(runs, target) for group, runs in groups.items()}
    return {"plan": dataclasses.asdict(plan), "target_group": target_group,
            "target_accuracy": target, "best_sgd_group": best_sgd, "groups": table,
            "differences": _differences(table, target_group, best_sgd),
            "impairment_thresholds": _impairment_thresholds(table, plan, target_group),
            "main_groups": [spu_group(m, plan.main_bits) for m in plan.methods]}
