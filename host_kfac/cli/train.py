"""``thermospu train``: one training run; writes metrics.json and plots to --out."""

from __future__ import annotations

import argparse

from . import args as types


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "kfac"), default="kfac")
    parser.add_argument("--lr", type=types.positive_float, default=None,
                        help="learning rate (default: sgd 0.1, adam 3e-3, kfac 0.1)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=types.positive_int, default=None, help="optimizer steps (default 300)")
    length.add_argument("--epochs", type=types.positive_float, default=None,
                        help="passes over the training set (instead of --steps)")
    parser.add_argument("--batch-size", type=types.positive_int, default=128)
    parser.add_argument("--seed", type=types.seed, default=0)
    parser.add_argument("--eval-every", type=types.positive_int, default=10, help="steps between test evaluations")
    parser.add_argument("--solver", choices=("digital", "spu"), default="digital",
                        help="K-FAC solver: host Cholesky or the SPU")
    parser.add_argument("--device", type=types.device_uri, default=None,
                        help="SPU device URI, with --solver spu (default 'model': the emulated "
                             "SPU; 'sim:icarus', 'sim://HOST:PORT', 'serial:/dev/ttyUSB1', 'auto')")
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
    parser.add_argument("--inv-update-interval", type=types.positive_int, default=10)
    parser.add_argument("--factor-update-interval", type=types.positive_int, default=1)
    parser.add_argument("--fisher", choices=("empirical", "mc"), default="empirical")
    parser.add_argument("--no-pi-adjust", action="store_true")
    parser.add_argument("--threads", type=types.positive_int, default=None, help="torch threads (default 1)")
    parser.add_argument("--out", type=types.writable_dir, default=None, help="directory for metrics.json and PNG plots")
    parser.add_argument("--checkpoint", type=types.writable_dir, default=None, metavar="DIR",
                        help="save the run's whole state to DIR/checkpoint.pt after every "
                             "evaluation (atomically)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in --checkpoint DIR (same options); "
                             "the run ends as an uninterrupted one would")
    parser.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import math

    from ..data import load_dataset
    from ..train import TrainConfig, set_threads, train

    if args.device is not None and args.solver != "spu":
        raise types.UsageError("--device names the SPU that K-FAC's solver runs on: it needs "
                               "--optimizer kfac --solver spu")
    if args.solver == "spu" and args.optimizer != "kfac":
        raise types.UsageError(f"--solver spu preconditions K-FAC; --optimizer {args.optimizer} "
                               f"has no solver")
    if args.resume and args.checkpoint is None:
        raise types.UsageError("--resume continues from a checkpoint: give --checkpoint DIR")
    set_threads(args.threads)
    data = load_dataset(args.dataset)
    steps = args.steps or 300
    if args.epochs is not None:
        steps = max(1, math.ceil(args.epochs * len(data.y_train) / args.batch_size))
    cfg = TrainConfig(
        dataset=args.dataset, model=args.model, optimizer=args.optimizer, lr=args.lr, steps=steps,
        batch_size=args.batch_size, seed=args.seed, eval_every=args.eval_every,
        solver=args.solver, device=args.device or "model", method=args.method, in_bits=args.in_bits,
        out_bits=args.out_bits, spu_n=args.spu_n, samples=None if args.tol else args.samples,
        tol=args.tol, damping=args.damping, factor_decay=args.factor_decay, kl_clip=args.kl_clip,
        factor_update_interval=args.factor_update_interval,
        inv_update_interval=args.inv_update_interval, pi_adjust=not args.no_pi_adjust,
        fisher=args.fisher, split_blocks=args.split_blocks)
    metrics = train(cfg, out_dir=args.out, progress=not args.no_progress, data=data,
                    checkpoint_dir=args.checkpoint, resume=args.resume)
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
    if args.out:
        print(f"wrote {args.out}/metrics.json, loss.png, accuracy.png")
    return 1 if metrics["diverged"] else 0
