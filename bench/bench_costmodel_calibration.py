"""Calibrate the cost model (thermospu.host_kfac.costmodel) against this machine and the emulation.

Part 1, digital terms: times torch's matmul, inverse, eigh and a memory copy on this CPU at several
sizes (float32 and float64) and fits ``t = latency + FLOP / rate`` to each (weighted least
squares on relative error), with the model's nominal FLOP counts (matmul 2n**3, inverse 2n**3,
eigh 9n**3). Model and measurement are then compared size by size.

Part 2, SPU terms: runs thermospu's golden-model SPU (``thermospu.driver.open("model")``) on
matrices of known condition number, asking ``inv`` and ``solve`` for a target tolerance, and
compares the Euler steps it ran with the steps the cost model predicts for the same n, kappa and
eps (an EmulatedSPU with one step per second), and the error it reached with the target.

Run::

    .venv/bin/python bench/bench_costmodel_calibration.py          # ~3 minutes on 2 cores
    .venv/bin/python bench/bench_costmodel_calibration.py --quick  # smaller sizes

It prints markdown tables, writes them to docs/costmodel_calibration.md and the fitted digital
profile to docs/costmodel/calibration_cpu.json (``thermospu costmodel --calibration`` reads it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "costmodel_calibration.md"
PROFILE = REPO / "docs" / "costmodel" / "calibration_cpu.json"

NOMINAL_FLOPS = {"matmul": lambda n: 2.0 * n**3, "inverse": lambda n: 2.0 * n**3,
                 "eigh": lambda n: 9.0 * n**3}


def _once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def time_digital(sizes: dict, dtypes, rounds: int) -> list[dict]:
    """Smallest wall time (s) of each (op, dtype, n) over ``rounds`` rounds. The rounds go over
    all sizes in turn, so that a burst of load from other processes on this shared machine
    spoils one round of a size rather than all its repeats."""
    import torch
    gen = torch.Generator().manual_seed(7)
    cases = []
    for dtype in dtypes:
        for op, ns in sizes.items():
            for n in ns:
                x = torch.randn(n, n, generator=gen, dtype=dtype)
                spd = x @ x.T / n + torch.eye(n, dtype=dtype)
                fn = {"matmul": lambda x=x: x @ x, "inverse": lambda s=spd: torch.linalg.inv(s),
                      "eigh": lambda s=spd: torch.linalg.eigh(s)}[op]
                fn()                                    # warm-up
                cases.append(({"op": op, "dtype": str(dtype).removeprefix("torch."), "n": n},
                              fn))
    best = [math.inf] * len(cases)
    for _ in range(rounds):
        for i, (_, fn) in enumerate(cases):
            # small sizes: several calls per round, their minimum
            calls = max(1, min(20, int(0.05 / max(best[i], 1e-6)))) if best[i] < math.inf else 1
            best[i] = min(best[i], min(_once(fn) for _ in range(calls)))
    rows = [dict(case, seconds=t) for (case, _), t in zip(cases, best)]
    for r in rows:
        print(f"  {r}", file=sys.stderr)
    return rows


def time_memory_bandwidth(dtype_bytes=4, elements=1 << 24) -> float:
    """Bytes per second of an out-of-place add of two large float32 vectors (3 streams)."""
    import torch
    a, b, out = (torch.ones(elements) for _ in range(3))
    t = min(_once(lambda: torch.add(a, b, out=out)) for _ in range(20))
    return 3 * elements * dtype_bytes / t


def fit_rate(points) -> tuple[float, float]:
    """(latency s, rate FLOP/s) minimizing the relative error of t = L + F / R."""
    t = np.array([p[1] for p in points])
    f = np.array([p[0] for p in points])
    design = np.stack([np.ones_like(f), f], axis=1) / t[:, None]
    (latency, inverse_rate), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    if inverse_rate <= 0:
        raise RuntimeError(f"non-physical fit {latency}, {inverse_rate} for {points}")
    return max(float(latency), 0.0), 1.0 / float(inverse_rate)


def calibrate_digital(quick: bool) -> tuple[dict, str]:
    import torch
    from thermospu.host_kfac import costmodel as cm
    big = [64, 128, 256, 512, 1024] if quick else [64, 128, 256, 512, 1024, 2048]
    sizes = {"matmul": big, "inverse": big, "eigh": big[:-1] if not quick else big[:-1]}
    rows = time_digital(sizes, [torch.float32, torch.float64], rounds=3 if quick else 9)
    bandwidth = time_memory_bandwidth()
    fits = {}
    for dtype in ("float32", "float64"):
        for op in sizes:
            pts = [(NOMINAL_FLOPS[op](r["n"]), r["seconds"]) for r in rows
                   if r["op"] == op and r["dtype"] == dtype]
            fits[(op, dtype)] = fit_rate(pts)
    # our K-FAC inverts by default (Cholesky), so its latency stands for both factorizations
    factorization_latency = fits[("inverse", "float32")][0]
    profile = {
        "name": f"this CPU ({torch.get_num_threads()} threads, torch {torch.__version__} float32, "
                f"measured)",
        "source": f"measured by bench/bench_costmodel_calibration.py on "
                  f"{time.strftime('%Y-%m-%d', time.gmtime())}",
        "matmul_flops_per_s": fits[("matmul", "float32")][1],
        "inverse_flops_per_s": fits[("inverse", "float32")][1],
        "eigh_flops_per_s": fits[("eigh", "float32")][1],
        "memory_bytes_per_s": bandwidth, "op_latency_s": fits[("matmul", "float32")][0],
        "factorization_latency_s": factorization_latency, "bytes_per_element": 4,
    }
    hw = cm.DigitalHardware(**profile)

    lines = ["## Digital terms: torch on this CPU", "",
             f"Machine: {platform.processor() or platform.machine()}, "
             f"{torch.get_num_threads()} torch threads, torch {torch.__version__}; load average "
             f"at the start {os.getloadavg()[0]:.1f} (this machine is shared: timings are minima "
             f"over rounds). "
             f"Fit t = latency + FLOP / rate (nominal FLOP: matmul 2n^3, inverse 2n^3, "
             f"eigh 9n^3), weighted to relative error.", "",
             "| op | dtype | fitted rate (GFLOP/s) | fitted latency (us) |",
             "|---|---|---:|---:|"]
    for (op, dtype), (lat, rate) in fits.items():
        lines.append(f"| {op} | {dtype} | {rate / 1e9:.2f} | {lat * 1e6:.1f} |")
    lines += ["", f"Memory bandwidth (float32 add, 3 streams of 64 MiB): "
                  f"{bandwidth / 1e9:.2f} GB/s.", "",
              "Measured against the model with the fitted float32 profile:", "",
              "| op | n | measured (ms) | model (ms) | model / measured |",
              "|---|---:|---:|---:|---:|"]
    for r in rows:
        if r["dtype"] != "float32":
            continue
        model = cm.digital_op_seconds(hw, r["op"], m=r["n"], k=r["n"], n=r["n"])
        lines.append(f"| {r['op']} | {r['n']} | {r['seconds'] * 1e3:.3f} | {model * 1e3:.3f} | "
                     f"{model / r['seconds']:.2f} |")
    return profile, "\n".join(lines)


def calibrate_our_kfac(profile: dict, quick: bool) -> str:
    """Time our K-FAC's digital solver (host_kfac.solvers.DigitalSolver: Cholesky inverse of both
    factors, then G^-1 dW A^-1) against the model with the fitted profile."""
    import torch
    from thermospu.host_kfac import costmodel as cm
    from thermospu.host_kfac.solvers import DigitalSolver
    hw = cm.DigitalHardware(**profile)
    gen = torch.Generator().manual_seed(3)
    lines = ["### Our K-FAC's digital solver against the model", "",
             "`DigitalSolver(\"cholesky\")` of `thermospu.host_kfac.solvers` on an n x n layer "
             "(float32): `update` (Cholesky inverse of A and G) and `precondition` (G^-1 dW "
             "A^-1); minimum over rounds. Model: two inverses (2n^3 nominal each) and two "
             "n x n products.", "",
             "| n | update measured (ms) | update model (ms) | precondition measured (ms) | "
             "precondition model (ms) |", "|---:|---:|---:|---:|---:|"]
    sizes = [128, 256, 512] if quick else [128, 256, 512, 1024]
    cases = []
    for n in sizes:
        x = torch.randn(n, 4 * n, generator=gen)
        factor = x @ x.T / (4 * n) + 0.01 * torch.eye(n)
        grad = torch.randn(n, n, generator=gen)
        solver = DigitalSolver("cholesky")
        solver.update("layer", factor, factor)
        cases.append((lambda s=solver, f=factor: s.update("layer", f, f),
                      lambda s=solver, g=grad: s.precondition("layer", g)))
    best = [[math.inf, math.inf] for _ in sizes]
    for _ in range(3 if quick else 7):          # rounds over all sizes, as in time_digital
        for i, fns in enumerate(cases):
            for j, fn in enumerate(fns):
                best[i][j] = min(best[i][j], _once(fn))
    for n, (update, precondition) in zip(sizes, best):
        model_update = 2 * cm.digital_op_seconds(hw, "inverse", n=n)
        model_pre = 2 * cm.digital_op_seconds(hw, "matmul", m=n, k=n, n=n)
        lines.append(f"| {n} | {update * 1e3:.3f} | {model_update * 1e3:.3f} | "
                     f"{precondition * 1e3:.3f} | {model_pre * 1e3:.3f} |")
    return "\n".join(lines)


def spectrum_matrix(n: int, kappa: float, seed: int) -> np.ndarray:
    """Symmetric positive definite n x n matrix, eigenvalues log-spaced in [1/kappa, 1]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.geomspace(1.0 / kappa, 1.0, n)) @ q.T


def calibrate_spu(quick: bool) -> str:
    import thermospu.driver as spu
    from thermospu.host_kfac import costmodel as cm
    cases = [(8, 4.0), (16, 16.0)] if quick else [(8, 4.0), (16, 4.0), (16, 16.0), (32, 16.0),
                                                  (32, 64.0), (64, 64.0), (64, 256.0)]
    tolerance = {"inverse": 0.2, "solve": 0.05}
    lines = ["## SPU terms: the golden-model SPU against the model's step counts", "",
             "The emulated SPU (`thermospu.driver.open(\"model\", n=64)`, default formats) is "
             "asked "
             "for `inv(A, tol=eps)` and `solve(A, b, tol=eps)` on matrices with eigenvalues "
             "log-spaced in [1/kappa, 1]. *Predicted* steps come from the cost model "
             "(`spu_inverse_seconds` / `spu_solve_seconds` on an EmulatedSPU with one step per "
             "second, `steps_per_time_unit` = 1/(h lambda_max) of the run, the driver's kappa "
             "estimate (lambda_max/lambda_min, Lanczos, lambda_min shrunk by its 0.8 safety) and "
             "noise_to_signal = 1, the driver's regime). *Measured* steps exclude the ranging "
             "pilot. Error: relative Frobenius (inverse) or 2-norm (solve) against numpy.", "",
             "| op | n | kappa (true) | kappa (driver) | eps | steps measured | steps predicted "
             "| predicted / measured | predicted from true kappa / measured | error reached |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    dev = spu.open("model", n=max(n for n, _ in cases))
    for n, kappa in cases:
        A = spectrum_matrix(n, kappa, seed=n)
        b = np.random.default_rng(n + 1).standard_normal(n)
        for op, eps in tolerance.items():
            if op == "inverse":
                est, d = dev.inv_with_info(A, tol=eps, seed=11)
                exact = np.linalg.inv(A)
                err = np.linalg.norm(est - exact) / np.linalg.norm(exact)
            else:
                est, d = dev.solve_with_info(A, b, tol=eps, seed=11)
                exact = np.linalg.solve(A, b)
                err = np.linalg.norm(est - exact) / np.linalg.norm(exact)
            measured = d.steps - d.pilot_steps
            driver_kappa = d.lambda_max / (0.8 * d.lambda_min)
            emu = cm.EmulatedSPU(name="golden model", cells=32, steps_per_s=1.0,
                                 steps_per_time_unit=1.0 / (d.h * d.lambda_max),
                                 scale_to_width=False, link_latency_s=0.0)
            acc = cm.SolverAccuracy(condition_number=driver_kappa, target_error=eps,
                                    noise_to_signal=1.0)
            model = cm.spu_inverse_seconds if op == "inverse" else cm.spu_solve_seconds
            job = model(emu, n, acc)
            predicted = job["burn_in"] + job["sampling"]
            true = model(emu, n, dataclasses.replace(acc, condition_number=kappa))
            lines.append(f"| {op} | {n} | {kappa:g} | {driver_kappa:.1f} | {eps:g} | {measured} | "
                         f"{predicted:.0f} | {predicted / measured:.2f} | "
                         f"{(true['burn_in'] + true['sampling']) / measured:.2f} | {err:.3f} |")
            print(f"  {lines[-1]}", file=sys.stderr)
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 1 minute)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    profile, digital = calibrate_digital(args.quick)
    digital += "\n\n" + calibrate_our_kfac(profile, args.quick)
    spu_table = calibrate_spu(args.quick)
    text = "\n".join(["# Cost-model calibration", "",
                      "Generated by `bench/bench_costmodel_calibration.py`"
                      f"{' --quick' if args.quick else ''}; see docs/costmodel.md.", "",
                      digital, "", spu_table, ""])
    print(text)
    if not args.no_write:
        DOC.write_text(text)
        PROFILE.parent.mkdir(parents=True, exist_ok=True)
        PROFILE.write_text(json.dumps(profile, indent=2) + "\n")
        print(f"wrote {DOC.relative_to(REPO)} and {PROFILE.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
