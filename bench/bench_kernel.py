"""Throughput of the golden model's compiled kernel (rtl/spec/kernel.py) against NumPy loops.

    .venv/bin/python bench/bench_kernel.py [--quick] [--out docs/bench_kernel.md]

For n in {16, 32, 64, 128} and C in {1, 16} chains, side by side in one run (interleaved rounds,
best of each, one BLAS thread):

* the kernel running a whole job (noise on, moments on, thin 8): Euler steps per second (of the
  job, every chain advancing) and cell-updates per second (steps x C x n);
* a NumPy loop of ``x @ A`` with x (C x n), A (n x n) in int64 -- the "matvec loop" of the same
  shape (goal: kernel >= 3x at n = 16-64, C = 1);
* the same loop in float64 (BLAS) -- the batched bound (goal: kernel >= 0.5x at C = 16);
* the NumPy golden model (GoldenSPU.step), for reference.

It also measures the kernel's first-call cost: compiling into an empty numba cache, then
loading from that cache in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import threadpoolctl

from thermospu.rtl.spec import kernel
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.golden import GoldenSPU

FIRST_CALL = """
import time
t = time.perf_counter()
import numpy as np
from thermospu.rtl.spec import kernel
from thermospu.rtl.spec.config import JobParams, SPUConfig
p = JobParams(n_active=4, k=1, b_shift=0, sigma_q=1, sigma_shift=0, burn_in=0, samples=1)
for cfg in (SPUConfig(n=8), SPUConfig(n=64, a_bits=18, x_bits=32, out_bits=16)):
    kernel.run_jobs(cfg, np.eye(4, dtype=np.int64), np.zeros((2, 4), np.int64), p, [1, 2])
    kernel.run_jobs(cfg, np.eye(4, dtype=np.int64), np.zeros(4, np.int64)[None], p, [1])
print(time.perf_counter() - t)
"""


def first_call_seconds() -> tuple[float, float]:
    """(compile into an empty cache, load from it), each a fresh interpreter, import included."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        run = lambda: float(subprocess.run([sys.executable, "-c", FIRST_CALL], env=env,
                                           check=True, capture_output=True, text=True).stdout)
        return run(), run()


def problem(n: int, chains: int, steps: int):
    config = SPUConfig(n=max(n, 16))
    rng = np.random.default_rng(n)
    a_q = rng.integers(-100, 100, (n, n))
    a_q = (a_q + a_q.T) // 2 + np.diag(np.full(n, config.a_max_code // 2))
    b_q = rng.integers(-1000, 1000, (chains, n))
    params = JobParams(n_active=n, k=3, b_shift=0, sigma_q=1000, sigma_shift=4, burn_in=0,
                       samples=max(1, steps // 8), thin=8, moments=True)
    return config, a_q, b_q, params


def timed_rate(work, steps_per_call: int, seconds: float, prepare=None) -> float:
    """Steps per second of ``work`` run repeatedly for about ``seconds``; ``prepare()``, if
    given, runs untimed before each call and its result is passed to ``work``."""
    count, elapsed = 0, 0.0
    while elapsed < seconds:
        arg = prepare() if prepare else None
        start = time.perf_counter()
        work(arg) if prepare else work()
        elapsed += time.perf_counter() - start
        count += 1
    return count * steps_per_call / elapsed


def row(n: int, chains: int, seconds: float, rounds: int) -> dict:
    steps = max(256, int(2e7 / (n * n * chains)))
    config, a_q, b_q, params = problem(n, chains, steps)
    seeds = list(range(chains))
    x = np.random.default_rng(0).integers(-2**20, 2**20, (chains, n))
    a_int, a_float, x_float = a_q.astype(np.int64), a_q.astype(np.float64), x.astype(np.float64)
    golden = GoldenSPU(config, a_q, b_q, params, seeds)
    loop = 256

    def matvec_int():
        for _ in range(loop):
            x @ a_int

    def matvec_float():
        for _ in range(loop):
            x_float @ a_float

    def golden_steps():
        for _ in range(16):
            golden.step()

    # The kernel's rate is that of FastSPU.run; building the machine (deriving C n generator
    # seeds in Python) is set-up, not stepping, and stays out of the timing.
    work = {"kernel": (lambda machine: machine.run(), params.steps,
                       lambda: kernel.FastSPU(config, a_q, b_q, params, seeds, threads=1)),
            "int64 loop": (matvec_int, loop, None), "float64 loop": (matvec_float, loop, None),
            "golden": (golden_steps, 16, None)}
    kernel.run_jobs(config, a_q, b_q, params, seeds)           # compiled (or loaded) already
    best = dict.fromkeys(work, 0.0)
    for _ in range(rounds):           # interleaved: other load on the machine hits all alike
        for name, (fn, per_call, prepare) in work.items():
            best[name] = max(best[name],
                             timed_rate(fn, per_call, seconds / rounds / len(work), prepare))
    return {"n": n, "chains": chains, **best}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/bench_kernel.md"))
    args = parser.parse_args(argv)
    seconds, rounds = (1.0, 2) if args.quick else (4.0, 4)

    compile_s, load_s = first_call_seconds()
    print(f"first call: compile {compile_s:.2f} s, cached load {load_s:.2f} s", flush=True)
    rows = []
    with threadpoolctl.threadpool_limits(1):
        for n in (16, 32, 64, 128):
            for chains in (1, 16):
                r = row(n, chains, seconds, rounds)
                rows.append(r)
                print(f"  n={n:4d} C={chains:3d}  kernel {r['kernel']:.3g} steps/s  "
                      f"x{r['kernel'] / r['int64 loop']:.1f} int64 loop  "
                      f"{r['kernel'] / r['float64 loop']:.2f} of float64 loop", flush=True)
    write_report(args.out, rows, compile_s, load_s)
    return 0


def write_report(path: pathlib.Path, rows, compile_s: float, load_s: float) -> None:
    lines = [
        "# Golden-model kernel throughput",
        "",
        f"Written by `bench/bench_kernel.py` on {platform.machine()}, {os.cpu_count()} cores "
        f"(shared), Python {platform.python_version()}, NumPy {np.__version__}, numba "
        f"{kernel.numba.__version__}, {time.strftime('%Y-%m-%d')}.",
        "",
        "Euler steps per second of one job (every chain advancing one step; noise on, moments "
        "on, thin 8, sampling included) and cell-updates per second (steps x C x n), against "
        "NumPy loops of `x @ A`, x (C x n) and A (n x n), timed side by side in the same run "
        "(interleaved rounds, best of each, one BLAS thread, the kernel on one thread too: "
        "the emulator spreads chains over all cores, see docs/spu.md). The int64 loop is the "
        "matvec loop of the same shape; the float64 (BLAS) loop is the batched bound. Goals: "
        ">= 3x the int64 loop at n = 16-64 with one chain; >= 0.5 of the float64 loop with "
        "16 chains.",
        "",
        "| n | C | kernel steps/s | kernel cell-updates/s | int64 loop steps/s "
        "| float64 loop steps/s | NumPy golden model steps/s | kernel / int64 "
        "| kernel / float64 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['chains']} | {r['kernel']:.3g} "
            f"| {r['kernel'] * r['chains'] * r['n']:.3g} | {r['int64 loop']:.3g} "
            f"| {r['float64 loop']:.3g} | {r['golden']:.3g} "
            f"| {r['kernel'] / r['int64 loop']:.1f} | {r['kernel'] / r['float64 loop']:.2f} |")
    lines += [
        "",
        f"First call on a machine: {compile_s:.1f} s to compile both coupling paths (float64 "
        f"and int64, one and two chains) into an empty numba cache, import included; "
        f"{load_s:.2f} s in a later process that loads them from the cache (`cache=True`).",
        "",
    ]
    path.write_text("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
