"""``thermospu compare``: the standard optimizer comparison, written as a markdown report."""

from __future__ import annotations

import argparse

from . import args as types
from .train import add_model_arguments, model_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="short version: one seed, no learning-rate or bit sweeps, Method 1 "
                             "only (about a minute on 2 cores)")
    add_model_arguments(parser)
    parser.add_argument("--device", type=types.device_uri, default=None,
                        help="SPU device URI of the thermodynamic K-FAC runs (default 'model': "
                             "the emulated SPU)")
    parser.add_argument("--steps", type=types.positive_int, default=None, help="steps per run (default: plan's)")
    parser.add_argument("--seeds", type=types.positive_int, default=None, help="number of seeds (default: plan's)")
    parser.add_argument("--methods", nargs="+", choices=("inverse", "linsolve"), default=None,
                        help="SPU methods at 8/8 bits (default: both; --quick: inverse)")
    parser.add_argument("--bits", nargs="*", type=types.config_field("a_bits"), default=None,
                        help="bit widths of the input/output sweep (default 4 6 8 12 16; give "
                             "none to skip the sweep)")
    parser.add_argument("--jobs", type=types.positive_int, default=None,
                        help="parallel worker processes (default: CPU count)")
    parser.add_argument("--cache", default=None,
                        help="directory keeping each finished run, so that an interrupted "
                             "comparison resumes (e.g. runs/compare-cache)")
    parser.add_argument("--out", type=types.writable_dir, default=None,
                        help="report directory (default runs/compare, or runs/compare-quick with "
                             "--quick; the committed report is made with --out docs/report)")


def run(args) -> int:
    import dataclasses

    from ..compare import FULL, QUICK, run_comparison
    from ..data import load_dataset

    plan = QUICK if args.quick else FULL
    changes = model_options(args, load_dataset(args.dataset))
    changes["device"] = args.device or "model"
    if args.steps:
        changes["steps"] = args.steps
    if args.seeds:
        changes["seeds"] = tuple(range(args.seeds))
    if args.methods:
        changes["methods"] = tuple(args.methods)
    if args.bits is not None:
        changes["bits"] = tuple(args.bits)
    plan = dataclasses.replace(plan, **changes)
    out = args.out or types.writable_dir("runs/compare-quick" if args.quick else "runs/compare")
    summary = run_comparison(plan, out, jobs=args.jobs, cache_dir=args.cache,
                             command=_command_line(args))
    rows = summary["groups"]
    width = max(len(g) for g in rows)
    print(f"target (best Adam, seed-mean): {summary['target_accuracy']:.4f}")
    for group, r in rows.items():
        reached = r.get("steps_to_target")
        print(f"{group:<{width}}  final {r['final_mean']:.4f} ± {r['final_std']:.4f}  "
              f"steps to target {'-' if reached is None else reached}")
    for name, t in summary["step_time"].items():
        print(f"step time {name} / SGD: {t['ratio']:.1f}x")
    print(f"report: {out}/report.md")
    return 0


def _command_line(args) -> str:
    """The command that reproduces the report (options that change the plan)."""
    parts = ["thermospu compare"]
    if args.quick:
        parts.append("--quick")
    if args.dataset != "digits":
        parts.append(f"--dataset {args.dataset}")
    if args.model != "mlp":
        parts.append(f"--model {args.model}")
    for name in ("hidden", "channels"):
        if getattr(args, name) is not None:
            parts.append(" ".join([f"--{name}", *map(str, getattr(args, name))]))
    if args.activation != "tanh":
        parts.append(f"--activation {args.activation}")
    for name, default in (("batch_size", 128), ("inv_update_interval", 10),
                          ("factor_update_interval", 1)):
        if getattr(args, name) != default:
            parts.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    if args.device is not None:
        parts.append(f"--device {args.device}")
    for name in ("steps", "seeds"):
        if getattr(args, name):
            parts.append(f"--{name} {getattr(args, name)}")
    if args.methods:
        parts.append("--methods " + " ".join(args.methods))
    if args.bits is not None:
        parts.append(" ".join(["--bits", *map(str, args.bits)]))
    return " ".join(parts)
