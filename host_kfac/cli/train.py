"""``thermospu train``: one training run; writes metrics.json and plots to --out.

``--nproc N`` runs it data-parallel on N local CPU processes (gloo over loopback); under
``torchrun`` (detected from its environment) each started process is one rank::

    torchrun --standalone --nproc_per_node=2 -m thermospu.host_kfac.cli train --steps 100
"""

from __future__ import annotations

import argparse

from . import args as types


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The data set, model and batch options that ``train`` and ``compare`` share."""
    parser.add_argument("--dataset", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                        help="mlp: Linear layers; cnn: Conv2d 3x3 on digits, Conv1d (kernel 5, "
                             "stride 2) on mnist1d, then Linear layers")
    parser.add_argument("--hidden", nargs="+", type=types.positive_int, default=None,
                        metavar="WIDTH", help="hidden Linear widths, e.g. --hidden 128 128 "
                                              "(default: mlp 32, cnn none)")
    parser.add_argument("--channels", nargs="+", type=types.positive_int, default=None,
                        metavar="C", help="the CNN's convolution channels (default 8 8)")
    parser.add_argument("--activation", choices=("tanh", "relu", "gelu"), default="tanh")
    parser.add_argument("--batch-size", type=types.positive_int, default=128,
                        help="minibatch size (with --nproc: the global one, split evenly)")
    parser.add_argument("--inv-update-interval", type=types.positive_int, default=10)
    parser.add_argument("--factor-update-interval", type=types.positive_int, default=1)


def model_options(args, data) -> dict:
    """The :class:`~thermospu.host_kfac.train.TrainConfig` fields of :func:`add_model_arguments`,
    checked against ``data`` (a :class:`~thermospu.host_kfac.data.Dataset`)."""
    from ..models import build_model

    if args.channels and args.model != "cnn":
        raise types.UsageError("--channels sets the CNN's convolutions: it needs --model cnn")
    try:
        build_model(args.model, data.features, data.classes, data.image_shape,
                    hidden=args.hidden, channels=args.channels, activation=args.activation)
    except ValueError as error:
        raise types.UsageError(f"--channels: {error}") from None
    return dict(dataset=args.dataset, model=args.model,
                hidden=None if args.hidden is None else tuple(args.hidden),
                channels=None if args.channels is None else tuple(args.channels),
                activation=args.activation, batch_size=args.batch_size,
                inv_update_interval=args.inv_update_interval,
                factor_update_interval=args.factor_update_interval)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--optimizer", choices=("sgd", "adam", "kfac"), default="kfac")
    parser.add_argument("--lr", type=types.positive_float, default=None,
                        help="learning rate (default: sgd 0.1, adam 3e-3, kfac 0.1)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=types.positive_int, default=None, help="optimizer steps (default 300)")
    length.add_argument("--epochs", type=types.positive_float, default=None,
                        help="passes over the training set (instead of --steps)")
    parser.add_argument("--seed", type=types.seed, default=0)
    parser.add_argument("--eval-every", type=types.positive_int, default=10, help="steps between test evaluations")
    parser.add_argument("--solver", choices=("digital", "spu"), default="digital",
                        help="K-FAC solver: host Cholesky or the SPU")
    parser.add_argument("--device", type=types.device_uri, default=None,
                        help="SPU device URI, with --solver spu (default 'model': the emulated "
                             "SPU; 'sim:icarus', 'sim://HOST:PORT', 'serial:/dev/ttyUSB1', 'auto'); "
                             "{rank} in it is each process's rank, e.g. serial:/dev/ttyUSB{rank}")
    parser.add_argument("--method", choices=("inverse", "linsolve"), default="inverse",
                        help="SPU method: 1 = inverse (covariance), 2 = linsolve (linear systems)")
    parser.add_argument("--in-bits", type=types.config_field("a_bits"), default=None,
                        help="SPU input (DAC) bits (default: 8 on an emulated SPU, a board's own)")
    parser.add_argument("--out-bits", type=types.config_field("out_bits"), default=None,
                        help="SPU output (ADC) bits (default: 8 on an emulated SPU, a board's own)")
    parser.add_argument("--spu-n", type=types.config_field("n"), default=None,
                        help="cells of the emulated SPU, or the least a board must have "
                             "(default: the largest K-FAC factor)")
    accuracy = parser.add_mutually_exclusive_group()
    accuracy.add_argument("--samples", type=types.samples, default=2000, help="samples per SPU job")
    accuracy.add_argument("--tol", type=types.positive_float, default=None,
                          help="target relative standard error per SPU job (instead of --samples)")
    parser.add_argument("--split-blocks", action="store_true",
                        help="split factors larger than the SPU into diagonal blocks")
    parser.add_argument("--damping", type=types.positive_float, default=3e-2)
    parser.add_argument("--kl-clip", type=types.positive_float, default=1e-3)
    parser.add_argument("--factor-decay", type=types.fraction, default=0.95)
    parser.add_argument("--fisher", choices=("empirical", "mc"), default="empirical")
    parser.add_argument("--no-pi-adjust", action="store_true")
    parser.add_argument("--threads", type=types.positive_int, default=None,
                        help="torch threads (default 1; per process with --nproc)")
    parser.add_argument("--nproc", type=types.positive_int, default=None,
                        help="data-parallel CPU processes (torch.distributed, gloo on loopback), "
                             "each with --batch-size / N rows and its own SPU device; under "
                             "torchrun: its world size (default 1)")
    parser.add_argument("--out", type=types.writable_dir, default=None, help="directory for metrics.json and PNG plots")
    parser.add_argument("--checkpoint", type=types.writable_dir, default=None, metavar="DIR",
                        help="save the run's whole state to DIR/checkpoint.pt after every "
                             "evaluation (atomically)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in --checkpoint DIR (same options); "
                             "the run ends as an uninterrupted one would")
    parser.add_argument("--no-progress", action="store_true")


def _check(args) -> int:
    """Refuse options that do not go together; returns the number of processes (``--nproc``,
    or torchrun's world size)."""
    from ..distributed import torchrun_world

    if args.device is not None and args.solver != "spu":
        raise types.UsageError("--device names the SPU that K-FAC's solver runs on: it needs "
                               "--optimizer kfac --solver spu")
    if args.solver == "spu" and args.optimizer != "kfac":
        raise types.UsageError(f"--solver spu preconditions K-FAC; --optimizer {args.optimizer} "
                               f"has no solver")
    if args.resume and args.checkpoint is None:
        raise types.UsageError("--resume continues from a checkpoint: give --checkpoint DIR")
    nproc = args.nproc or 1
    world = torchrun_world()
    if world is not None:
        if args.nproc not in (None, world[1]):
            raise types.UsageError(f"--nproc {args.nproc} differs from torchrun's world size "
                                   f"{world[1]}; leave --nproc out under torchrun")
        nproc = world[1]
    if nproc > 1 and args.checkpoint is not None:
        raise types.UsageError("--checkpoint saves one-process runs only; leave it out with "
                               "--nproc or torchrun")
    if args.batch_size % nproc:
        raise types.UsageError(f"--batch-size {args.batch_size} does not split evenly over "
                               f"{nproc} processes")
    return nproc


def _rank_main(cfg, data, out, progress: bool, threads, result_dir: str) -> None:
    """One rank of ``--nproc``: train; rank 0 leaves the metrics in ``result_dir``."""
    import json
    import pathlib

    import torch.distributed as dist

    from ..train import set_threads, train

    set_threads(threads)
    metrics = train(cfg, out_dir=out, progress=progress, data=data)
    if dist.get_rank() == 0:
        (pathlib.Path(result_dir) / "metrics.json").write_text(json.dumps(metrics))


def run(args) -> int:
    import json
    import math
    import pathlib
    import tempfile

    from ..data import load_dataset
    from ..distributed import init_from_env, leave_process_group, run_processes, torchrun_world
    from ..train import TrainConfig, set_threads, train

    nproc = _check(args)
    set_threads(args.threads)
    data = load_dataset(args.dataset)
    steps = args.steps or 300
    if args.epochs is not None:
        steps = max(1, math.ceil(args.epochs * len(data.y_train) / args.batch_size))
    cfg = TrainConfig(
        **model_options(args, data), optimizer=args.optimizer, lr=args.lr, steps=steps,
        seed=args.seed, eval_every=args.eval_every, nproc=nproc,
        solver=args.solver, device=args.device or "model", method=args.method, in_bits=args.in_bits,
        out_bits=args.out_bits, spu_n=args.spu_n, samples=None if args.tol else args.samples,
        tol=args.tol, damping=args.damping, factor_decay=args.factor_decay, kl_clip=args.kl_clip,
        pi_adjust=not args.no_pi_adjust, fisher=args.fisher, split_blocks=args.split_blocks)
    progress = not args.no_progress
    if nproc > 1 and torchrun_world() is not None:
        import torch.distributed as dist
        init_from_env()
        try:
            metrics = train(cfg, out_dir=args.out, progress=progress, data=data)
        except BaseException:
            dist.destroy_process_group()
            raise
        if dist.get_rank() == 0:
            _print_summary(cfg, metrics, args.out)
        leave_process_group(1 if metrics["diverged"] else 0)
    elif nproc > 1:
        with tempfile.TemporaryDirectory(prefix="thermospu-train-") as results:
            run_processes(_rank_main, nproc, (cfg, data, args.out, progress, args.threads, results))
            metrics = json.loads((pathlib.Path(results) / "metrics.json").read_text())
    else:
        metrics = train(cfg, out_dir=args.out, progress=progress, data=data,
                        checkpoint_dir=args.checkpoint, resume=args.resume)
    _print_summary(cfg, metrics, args.out)
    return 1 if metrics["diverged"] else 0


def _print_summary(cfg, metrics: dict, out) -> None:
    if "kfac_layers" in metrics:
        print(metrics["kfac_layers"])
    if "device" in metrics:
        print(f"SPU: {metrics['device']}")
    print(f"{cfg.label}: final test accuracy {metrics['final_test_accuracy']:.4f} "
          f"(best {metrics['best_test_accuracy']:.4f}) after {len(metrics['loss'])} steps, "
          f"{metrics['wall_s_total']:.1f} s")
    solver = metrics.get("solver_metrics", {})
    if solver.get("device_jobs"):
        print(f"SPU: {solver['device_jobs']} jobs, {solver['spu_steps']} Euler steps, "
              f"{solver['fallbacks']} fallbacks to the digital solver")
    for report in metrics.get("rank_reports", []):
        print(f"rank {report['rank']}: layers {', '.join(report['layers']) or '-'}; "
              f"{report['device_jobs']} device jobs, {report['rank_fallbacks']} fallbacks")
    if out:
        print(f"wrote {out}/metrics.json, loss.png, accuracy.png")
