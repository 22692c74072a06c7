"""``thermospu compare``: the standard optimizer comparison, written as a markdown report."""

from __future__ import annotations

import argparse

from thermospu.driver.transports.impairments import IMPAIRMENT_SIZES as IMPAIRMENT_CHOICES

from . import args as types
from .train import add_model_arguments, model_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="short version: one seed, no learning-rate or bit sweeps, Method 1 "
                             "only (about a minute on 2 cores)")
    parser.add_argument("--plan", choices=("digits", "mnist1d", "wide"), default=None,
                        help="the comparison to run (default digits): digits = MLP on digits; "
                             "mnist1d = Conv1d CNN on MNIST-1D, 5 seeds, bits, sampling and "
                             "impairment sweeps; wide = 256-256 MLP on MNIST-1D, split on a "
                             "64-cell SPU. The other options override the plan's values")
    add_model_arguments(parser)
    # Unset model options leave the plan's values (add_model_arguments' defaults are train's).
    parser.set_defaults(dataset=None, model=None, activation=None, batch_size=None,
                        inv_update_interval=None, factor_update_interval=None)
    parser.add_argument("--device", type=types.device_uri, default=None,
                        help="SPU device URI of the thermodynamic K-FAC runs (default 'model': "
                             "the emulated SPU)")
    parser.add_argument("--steps", type=types.positive_int, default=None, help="steps per run (default: plan's)")
    parser.add_argument("--seeds", type=types.positive_int, default=None, help="number of seeds (default: plan's)")
    parser.add_argument("--methods", nargs="+", choices=("inverse", "linsolve"), default=None,
                        help="SPU methods at 8/8 bits (default: both; --quick: inverse)")
    parser.add_argument("--bits", nargs="*", type=types.config_field("a_bits"), default=None,
                        help="bit widths of the input/output sweep (default: the plan's, "
                             "digits 4 6 8 12 16; give none to skip the sweep)")
    parser.add_argument("--sample-counts", nargs="*", type=types.positive_int, default=None,
                        help="samples per device job of the sampling sweep (default: the "
                             "plan's, mnist1d 250 1000 4000 16000; give none to skip it)")
    parser.add_argument("--impairments", nargs="*", type=_impairment_sweep, default=None,
                        metavar="NAME[=S,S,...]",
                        help="which impairment sweeps to run: NAME runs the plan's sizes, "
                             "NAME=0.1,0.2 these sizes (fractions); default: all the plan's, "
                             "none given: skip them. Names: " + ", ".join(IMPAIRMENT_CHOICES))
    parser.add_argument("--jobs", type=types.positive_int, default=None,
                        help="parallel worker processes (default: CPU count)")
    parser.add_argument("--cache", default=None,
                        help="directory keeping each finished run, so that an interrupted "
                             "comparison resumes (e.g. runs/compare-cache)")
    parser.add_argument("--out", type=types.writable_dir, default=None,
                        help="report directory (default runs/compare, runs/compare-PLAN with "
                             "--plan, runs/compare-quick with --quick; the committed reports' "
                             "commands are in docs/kfac.md, Results)")


def run(args) -> int:
    import dataclasses

    from ..compare import PLANS, QUICK, run_comparison
    from ..compare_stats import format_interval

    if args.quick and args.plan:
        raise types.UsageError("--quick is its own short plan: give --quick or --plan, not both")
    plan = QUICK if args.quick else PLANS[args.plan or "digits"]
    changes = _model_changes(args, plan)
    if args.device is not None:
        changes["device"] = args.device
    if args.steps:
        changes["steps"] = args.steps
    if args.seeds:
        changes["seeds"] = tuple(range(args.seeds))
    if args.methods:
        changes["methods"] = tuple(args.methods)
    if args.bits is not None:
        changes["bits"] = tuple(args.bits)
    if args.sample_counts is not None:
        changes["sample_counts"] = tuple(args.sample_counts)
    if args.impairments is not None:
        planned = dict(plan.impairments)
        changes["impairments"] = tuple((name, sizes or planned.get(name, ()))
                                       for name, sizes in args.impairments)
    plan = dataclasses.replace(plan, **changes)
    default_out = ("runs/compare-quick" if args.quick else
                   "runs/compare" if plan.name == "digits" else f"runs/compare-{plan.name}")
    out = args.out or types.writable_dir(default_out)
    summary = run_comparison(plan, out, jobs=args.jobs, cache_dir=args.cache,
                             command=_command_line(args))
    rows = summary["groups"]
    width = max(len(g) for g in rows)
    print(f"target (best Adam, seed-mean): {summary['target_accuracy']:.4f}")
    for group, r in rows.items():
        reached = r.get("steps_to_target")
        print(f"{group:<{width}}  final {format_interval(r['final_mean'], r['final_ci95'])}  "
              f"steps to target {'-' if reached is None else reached}")
    for name, t in summary["step_time"].items():
        print(f"step time {name} / SGD: {t['ratio']:.1f}x")
    print(f"report: {out}/report.md")
    return 0


def _impairment_sweep(text: str) -> tuple[str, tuple[float, ...]]:
    """``NAME`` or ``NAME=S,S,...`` (an impairment option and its sizes, >= 0) -> (name, sizes);
    no sizes: the plan's."""
    name, _, sizes = text.partition("=")
    if name not in IMPAIRMENT_CHOICES:
        raise argparse.ArgumentTypeError(f"unknown impairment {name!r}; known: "
                                         f"{', '.join(IMPAIRMENT_CHOICES)}")
    try:
        values = tuple(float(size) for size in sizes.split(",")) if sizes else ()
    except ValueError:
        values = (-1.0,)
    if any(not (value >= 0) or value == float("inf") for value in values):
        raise argparse.ArgumentTypeError(f"{text!r}: the sizes must be finite numbers >= 0, "
                                         f"comma-separated, e.g. {name}=0.01,0.02")
    return name, values


def _model_changes(args, plan) -> dict:
    """The plan's model fields with the given model options over them, checked against the
    data set (a changed data set or model drops the plan's widths that belong to the other)."""
    from ..data import load_dataset

    merged = {name: getattr(args, name) if getattr(args, name) is not None else getattr(plan, name)
              for name in ("dataset", "model", "activation", "batch_size", "inv_update_interval",
                           "factor_update_interval")}
    same_model = (merged["dataset"], merged["model"]) == (plan.dataset, plan.model)
    for name in ("hidden", "channels"):
        given = getattr(args, name)
        merged[name] = given if given is not None else (getattr(plan, name) if same_model
                                                        else None)
    return model_options(argparse.Namespace(**merged), load_dataset(merged["dataset"]))


def _command_line(args) -> str:
    """The command that reproduces the report (options that change the plan)."""
    parts = ["thermospu compare"]
    if args.quick:
        parts.append("--quick")
    if args.plan:
        parts.append(f"--plan {args.plan}")
    for name in ("dataset", "model"):
        if getattr(args, name) is not None:
            parts.append(f"--{name} {getattr(args, name)}")
    for name in ("hidden", "channels"):
        if getattr(args, name) is not None:
            parts.append(" ".join([f"--{name}", *map(str, getattr(args, name))]))
    if args.activation is not None:
        parts.append(f"--activation {args.activation}")
    for name in ("batch_size", "inv_update_interval", "factor_update_interval"):
        if getattr(args, name) is not None:
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
    if args.sample_counts is not None:
        parts.append(" ".join(["--sample-counts", *map(str, args.sample_counts)]))
    if args.impairments is not None:
        parts.append(" ".join(["--impairments", *(
            name + ("=" + ",".join(f"{size:g}" for size in sizes) if sizes else "")
            for name, sizes in args.impairments)]))
    return " ".join(parts)
