"""``thermospu demo``: the README's main job on the embedded default device.

1. Solves a random symmetric positive definite system and inverts the matrix on the SPU, printing
   the error against the exact answer and what the SPU did (steps, samples, quantization,
   saturations).
2. Runs the short training comparison (``thermospu compare --quick``): Adam, SGD, digital K-FAC and
   thermodynamic K-FAC on the emulated SPU with 8-bit input and output quantization, on digits;
   the report (markdown and PNG plots) goes to ``runs/compare-quick/``.
"""

from __future__ import annotations

import argparse

import numpy as np

from . import args as types


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", type=types.device_uri, default="model",
                        help="device URI: 'model' (emulated SPU, the default), 'sim:icarus', "
                             "'sim:verilator', 'sim://HOST:PORT', 'serial:/dev/ttyUSB1', 'auto'")
    parser.add_argument("--size", type=types.config_field("n"), default=16, help="problem size n (default 16)")
    parser.add_argument("--samples", type=types.samples, default=20_000,
                        help="samples per estimate (default 20000)")
    parser.add_argument("--seed", type=types.seed, default=0, help="seed of the problem and of the SPU")
    parser.add_argument("--a-bits", type=types.config_field("a_bits"), default=16, help="input (DAC) bits of A")
    parser.add_argument("--out-bits", type=types.config_field("out_bits"), default=16, help="output (ADC) bits")
    parser.add_argument("--no-training", action="store_true",
                        help="skip the short K-FAC training comparison (step 2)")


def wishart_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A = G G^T / (2n) with G n x 2n standard normal (condition ~ 30), b standard normal."""
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((n, 2 * n))
    return G @ G.T / (2 * n), rng.standard_normal(n)


def run(args) -> int:
    from thermospu import driver

    config = {} if args.device != "model" else {
        "n": max(args.size, 16), "a_bits": args.a_bits, "out_bits": args.out_bits}
    with driver.open(args.device, samples=args.samples, **config) as dev:
        print(f"device: {dev.description}")
        if args.device == "model":
            print("  (no board: this is the bit-exact emulation of the SPU's fixed-point machine)")
        A, b = wishart_problem(args.size, args.seed)
        x_exact = np.linalg.solve(A, b)
        A_inv = np.linalg.inv(A)

        x, d = dev.solve_with_info(A, b, seed=args.seed)
        err = np.linalg.norm(x - x_exact) / np.linalg.norm(x_exact)
        print(f"\nsolve  A x = b   (n={args.size}, condition {np.linalg.cond(A):.1f})")
        print(f"  relative error |x - x*| / |x*| = {err:.4f}   (estimated std error "
              f"{d.std_error:.3g} per coordinate)")
        _print_run(d)

        Ainv, d = dev.inv_with_info(A, seed=args.seed)
        err = np.linalg.norm(Ainv - A_inv) / np.linalg.norm(A_inv)
        print(f"\ninvert A")
        print(f"  relative error |A^-1_spu - A^-1|_F / |A^-1|_F = {err:.4f}")
        _print_run(d)
    if args.device != "model" or args.no_training:
        return 0
    print("\nshort training comparison (thermospu compare --quick): digits, MLP 64-32-10")
    from thermospu.host_kfac.cli import compare as compare_cli

    compare_args = argparse.ArgumentParser()
    compare_cli.add_arguments(compare_args)
    return compare_cli.run(compare_args.parse_args(["--quick"]))


def _print_run(d) -> None:
    """One line on what the SPU ran (``d`` a :class:`~thermospu.driver.SolveDiagnostics`)."""
    print(f"  SPU: {d.steps} Euler steps (pilot {d.pilot_steps}), h = 2^-{d.k}, "
          f"burn-in {d.burn_in}, {d.samples} samples thinned by {d.thin}, "
          f"{d.saturations} saturations, A in {d.a_bits} bits, "
          f"ADC {d.out_bits} bits, {d.wall_s:.2f} s")
