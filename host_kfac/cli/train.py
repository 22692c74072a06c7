"""``thermospu train``: one training run; writes metrics.json and plots to --out."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "kfac"), default="kfac")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: sgd 0.1, adam 3e-3, kfac 0.1)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=None, help="optimizer steps (default 300)")
    length.add_argument("--epochs", type=float, default=None,
                        help="passes over the training set (instead of --steps)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=10, help="steps between test evaluations")
    parser.add_argument("--solver", choices=("digital", "spu"), default="digital",
                        help="K-FAC solver: host Cholesky or the SPU")
    parser.add_argument("--device", default="model",
                        help="SPU device URI (default 'model': the emulated SPU)")
    parser.add_argument("--method", choices=("inverse", "linsolve"), default="inverse",
                        help="SPU method: 1 = inverse (covariance), 2 = linsolve (linear systems)")
    parser.add_argument("--in-bits", type=int, default=8, help="SPU input (DAC) bits")
    parser.add_argument("--out-bits", type=int, default=8, help="SPU output (ADC) bits")
    parser.add_argument("--spu-n", type=int, default=None,
                        help="cells of the emulated SPU (default: the largest K-FAC factor)")
    accuracy = parser.add_mutually_exclusive_group()
    accuracy.add_argument("--samples", type=int, default=2000, help="samples per SPU job")
    accuracy.add_argument("--tol", type=float, default=None,
                          help="target relative standard error per SPU job (instead of --samples)")
    parser.add_argument("--split-blocks", action="store_true",
                        help="split factors larger than the SPU into diagonal blocks")
    parser.add_argument("--damping", type=float, default=3e-2)
    parser.add_argument("--kl-clip", type=float, default=1e-3)
    parser.add_argument("--factor-decay", type=float, default=0.95)
    parser.add_argument("--inv-update-interval", type=int, default=10)
    parser.add_argument("--factor-update-interval", type=int, default=1)
    parser.add_argument("--fisher", choices=("empirical", "mc"), default="empirical")
    parser.add_argument("--no-pi-adjust", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 1)")
    parser.add_argument("--out", default=None, help="directory for metrics.json and PNG plots")
    parser.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import math

    from ..data import load_dataset
    from ..train import TrainConfig, set_threads, train

    set_threads(args.threads)
    data = load_dataset(args.dataset)
    steps = args.steps or 300
    if args.epochs is not None:
        steps = max(1, math.ceil(args.epochs * len(data.y_train) / args.batch_size))
    cfg = TrainConfig(
        dataset=args.dataset, model=args.model, optimizer=args.optimizer, lr=args.lr, steps=steps,
        batch_size=args.batch_size, seed=args.seed, eval_every=args.eval_every,
        solver=args.solver, device=args.device, method=args.method, in_bits=args.in_bits,
        out_bits=args.out_bits, spu_n=args.spu_n, samples=None if args.tol else args.samples,
        tol=args.tol, damping=args.damping, factor_decay=args.factor_decay, kl_clip=args.kl_clip,
        factor_update_interval=args.factor_update_interval,
        inv_update_interval=args.inv_update_interval, pi_adjust=not args.no_pi_adjust,
        fisher=args.fisher, split_blocks=args.split_blocks)
    metrics = train(cfg, out_dir=args.out, progress=not args.no_progress, data=data)
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
