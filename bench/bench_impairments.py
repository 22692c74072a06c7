"""The SPU's solve and inverse error against the size of each analog impairment.

    .venv/bin/python bench/bench_impairments.py [--chips 3] [--samples 10000]

Problem: the Wishart 32 of docs/bench_solver.md (bench_quantize.wishart(32, 56, 1)), a 32-cell
emulated SPU at 16 bits (a_bits = b_bits = out_bits = 16), ``samples`` per call, call seed 1.
For each impairment of docs/spu.md ("Analog impairments") alone at 0, 0.5 %, 1 %, 2 % and 5 %:
the relative errors ||x - x*|| / ||x*|| of a solve with the default refinement and without
(``refine=0``), and ||H - A^-1||_F / ||A^-1||_F of the inverse, each the mean over ``chips``
chips (impairment seeds 1 ... chips), and how many of the matrix's 1024 coupling codes the
perturbation clips (mean over the chips). Prints a
Markdown table (the one in docs/spu.md).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
import warnings

import numpy as np

SIZES = (0.0, 0.005, 0.01, 0.02, 0.05)
IMPAIRMENTS = ("coupling_mismatch", "self_mismatch", "dac_gain_error", "dac_offset",
               "adc_gain_error", "adc_offset", "noise_spread")
WIDTHS = dict(a_bits=16, b_bits=16, out_bits=16)
SEED = 1


def relative(estimate, exact) -> float:
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def measure(A, b, impairment: str, size: float, chip: int, samples: int) -> dict:
    """Relative errors of one solve (refined and not) and one inverse on one chip."""
    import thermospu.driver as spu

    x_star, inv_star = np.linalg.solve(A, b), np.linalg.inv(A)
    options = {impairment: size, "impairment_seed": chip} if size else {}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for label, refine in (("solve", None), ("solve_r0", 0)):
            device = spu.open("model", n=len(A), **WIDTHS, **options, refine=refine)
            out[label] = relative(device.solve(A, b, samples=samples, seed=SEED), x_star)
        out["inv"] = relative(device.inv(A, samples=samples, seed=SEED), inv_star)
    out["clipped"] = 0
    if size:
        from thermospu.driver.transports.impairments import perturb_couplings

        codes = device.load(A).quantized.codes
        out["clipped"] = perturb_couplings(codes, device.backend.pattern, device.config)[1]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10_000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import bench_quantize        # the same problems as docs/bench_quantize.md

    A, b = bench_quantize.wishart(32, 56, 1)
    start = time.perf_counter()
    lines = ["| impairment | size | solve (refined) | solve (refine=0) | inverse "
             "| clipped A codes |",
             "|---|---:|---:|---:|---:|---:|"]
    baseline = measure(A, b, IMPAIRMENTS[0], 0.0, 1, args.samples)
    lines.append(f"| none | 0 | {baseline['solve']:.2e} | {baseline['solve_r0']:.2e} | "
                 f"{baseline['inv']:.2e} | 0 |")
    print("\n".join(lines), flush=True)
    for impairment in IMPAIRMENTS:
        for size in SIZES[1:]:
            runs = [measure(A, b, impairment, size, chip, args.samples)
                    for chip in range(1, args.chips + 1)]
            mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
            line = (f"| {impairment} | {100 * size:g} % | {mean['solve']:.2e} | "
                    f"{mean['solve_r0']:.2e} | {mean['inv']:.2e} | {mean['clipped']:.3g} |")
            lines.append(line)
            print(line, flush=True)
    print(f"\n{args.chips} chips, {args.samples} samples, "
          f"{time.perf_counter() - start:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
