"""The SPU's answers through the API, before and after issue 12, and thermox, in one run.

    .venv/bin/python bench/bench_solver.py [--out docs/bench_solver.md] [--thermox-python PY]

For each problem of issue 12's table (Wishart 32 at 1e4 and 1e5 samples, K-FAC-like 24 with
κ ≈ 600, Wishart 64) and input/output widths (16-bit, and 8/8: a_bits = b_bits = out_bits = 8),
``solve`` and ``inv`` on the emulated SPU (model transport), relative errors
||x - x*|| / ||x*|| and ||H - A^-1||_F / ||A^-1||_F and wall time per call (matrix loading,
conditioning, pilots and reconstruction included; the kernel compiled beforehand), side by side:

* before: ``quantization="conservative"``, ``refine=0``, ``jobs=1``, ``step_limit=1.0`` (the old
  scheme, one chain, the old step rule h lambda_max in (1/2, 1]);
* after: the defaults (equilibrated, automatic refinement and jobs, h lambda_max <= 1.5), with
  the ratio of the reported RMS error bar to the RMS actual error;
* thermox (exact OU sampling, dt = 1 / lambda_min, warm call timed), when a Python with thermox
  is given or found in ``.thermox-venv`` (thermox is not a dependency of thermospu; it runs in
  its own environment, in a subprocess of this script).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

#: (name, problem as (generator name, arguments) of bench_quantize.py, samples).
ROWS = [("Wishart 32", ("wishart", (32, 56, 1)), 10_000),
        ("Wishart 32", ("wishart", (32, 56, 1)), 100_000),
        ("K-FAC-like 24", ("kfac_like", (24, 2)), 10_000),
        ("K-FAC-like 24", ("kfac_like", (24, 2, 2e-4)), 10_000),
        ("Wishart 64", ("wishart", (64, 130, 3)), 10_000)]
WIDTHS = {"16-bit": dict(a_bits=16, b_bits=16, out_bits=16),
          "8/8": dict(a_bits=8, b_bits=8, out_bits=8)}
BEFORE = dict(quantization="conservative", refine=0, jobs=1, step_limit=1.0)
SEED = 1


def relative(estimate, exact) -> float:
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def measure(device, A, b, samples: int) -> dict:
    """Relative errors, wall seconds and error-bar ratios of one solve and one inverse."""
    x_star, inv_star = np.linalg.solve(A, b), np.linalg.inv(A)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for kind, call, exact in (("solve", lambda: device.solve_with_info(A, b, samples=samples,
                                                                           seed=SEED), x_star),
                                  ("inv", lambda: device.inv_with_info(A, samples=samples,
                                                                       seed=SEED), inv_star)):
            start = time.perf_counter()
            answer, info = call()
            out[kind] = relative(answer, exact)
            out[kind + "_s"] = time.perf_counter() - start
            out[kind + "_bar"] = float(np.sqrt(np.mean(info.error_bars**2)
                                               / np.mean((answer - exact) ** 2)))
    return out


def thermox_worker(path_in: str, path_out: str) -> None:
    """Runs in thermox's environment: solve and inv of each stored problem, warm call timed."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import thermox

    data = np.load(path_in)
    results = []
    for i in range(int(data["count"])):
        A, b, samples = data[f"A{i}"], data[f"b{i}"], int(data[f"samples{i}"])
        dt = float(1.0 / np.linalg.eigvalsh(A)[0])
        row = {}
        for kind in ("solve", "inv"):
            def call(seed):
                key = jax.random.PRNGKey(seed)
                if kind == "solve":
                    return thermox.linalg.solve(jnp.asarray(A), jnp.asarray(b),
                                                num_samples=samples, dt=dt, key=key)
                return thermox.linalg.inv(jnp.asarray(A), num_samples=samples, dt=dt, key=key)
            np.asarray(call(0))                                   # compile
            start = time.perf_counter()
            answer = np.asarray(call(SEED))
            row[kind + "_s"] = time.perf_counter() - start
            exact = np.linalg.solve(A, b) if kind == "solve" else np.linalg.inv(A)
            row[kind] = relative(answer, exact)
        results.append(row)
    pathlib.Path(path_out).write_text(json.dumps(results))


def run_thermox(python: str, problems: list) -> list[dict] | None:
    """thermox's rows for ``problems`` [(A, b, samples)], or None when it cannot run."""
    with tempfile.TemporaryDirectory() as tmp:
        path_in, path_out = f"{tmp}/in.npz", f"{tmp}/out.json"
        arrays = {"count": len(problems)}
        for i, (A, b, samples) in enumerate(problems):
            arrays.update({f"A{i}": A, f"b{i}": b, f"samples{i}": samples})
        np.savez(path_in, **arrays)
        done = subprocess.run([python, __file__, "--thermox-worker", path_in, path_out],
                              capture_output=True, text=True)
        if done.returncode:
            print(f"thermox did not run: {done.stderr.strip().splitlines()[-1:]}")
            return None
        return json.loads(pathlib.Path(path_out).read_text())


def table(rows: list[dict], with_thermox: bool) -> list[str]:
    head = ("| problem | samples | widths | before solve / inv | before s (solve / inv) "
            "| after solve / inv | after s (solve / inv) | after bar / error (solve / inv) |")
    rule = "|---|---|---|---|---|---|---|---|"
    if with_thermox:
        head += " thermox solve / inv | thermox s (warm) |"
        rule += "---|---|"
    lines = [head, rule]
    for r in rows:
        b, a = r["before"], r["after"]
        line = (f"| {r['problem']} (κ {r['condition']:.0f}) | {r['samples']:.0e} | {r['widths']} "
                f"| {b['solve']:.2g} / {b['inv']:.2g} | {b['solve_s']:.2f} / {b['inv_s']:.2f} "
                f"| {a['solve']:.2g} / {a['inv']:.2g} | {a['solve_s']:.2f} / {a['inv_s']:.2f} "
                f"| {a['solve_bar']:.2f} / {a['inv_bar']:.2f} |")
        if with_thermox:
            t = r.get("thermox")
            line += (f" {t['solve']:.2g} / {t['inv']:.2g} | {t['solve_s']:.2f} / {t['inv_s']:.2f} |"
                     if t else " – | – |")
        lines.append(line)
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/bench_solver.md"))
    parser.add_argument("--thermox-python", default=None,
                        help="a Python with thermox installed (default: .thermox-venv if present)")
    parser.add_argument("--thermox-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.thermox_worker:
        thermox_worker(*args.thermox_worker)
        return 0
    import thermospu.driver as spu

    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import bench_quantize        # the same problems as the floors (docs/bench_quantize.md)

    spu.open("model", n=4).inv(np.eye(2) * 2, samples=100, seed=0)    # compile the kernel
    rows, problems = [], []
    for name, (generator, arguments), samples in ROWS:
        A, b = getattr(bench_quantize, generator)(*arguments)
        for widths, bits in WIDTHS.items():
            row = {"problem": name, "samples": samples, "widths": widths,
                   "condition": float(np.linalg.cond(A))}
            for label, options in (("before", BEFORE), ("after", {})):
                device = spu.open("model", n=len(A), **bits, **options)
                row[label] = measure(device, A, b, samples)
            rows.append(row)
            print(table([row], False)[-1], flush=True)
        problems.append((A, b, samples))
    python = args.thermox_python
    default = pathlib.Path(__file__).parent.parent / ".thermox-venv" / "bin" / "python"
    if python is None and default.exists():
        python = str(default)
    thermox_rows = run_thermox(python, problems) if python else None
    if thermox_rows:
        for i, row in enumerate(rows):
            row["thermox"] = thermox_rows[i // len(WIDTHS)]    # float64: the same for both widths
    lines = table(rows, bool(thermox_rows))
    print("\n".join(lines))
    text = [
        "# The SPU's answers through the API: before and after issue 12, and thermox",
        "",
        f"Written by `bench/bench_solver.py` on {platform.machine()}, 2 cores (shared), Python "
        f"{platform.python_version()}, NumPy {np.__version__}, {time.strftime('%Y-%m-%d')}. "
        "One run, everything side by side. Relative errors ||x − x*||/||x*|| (solve) and "
        "||H − A⁻¹||_F/||A⁻¹||_F (inverse), seed 1, one call each; wall seconds per call on the "
        "model transport (loading, conditioning, pilots, refinement and reconstruction included, "
        "the kernel compiled beforehand). Widths: 16-bit = a_bits = b_bits = out_bits = 16; "
        "8/8 = 8 for all three. *Before*: `quantization=\"conservative\", refine=0, jobs=1, "
        "step_limit=1.0` (the old scheme, one chain, h·λ_max ∈ (1/2, 1]). *After*: the defaults "
        "(equilibrated, automatic refinement rounds and jobs, h·λ_max ≤ 1.5); *bar / error* is the "
        "RMS reported error bar over the RMS actual error (calibrated ≥ 1 and ≤ 2.5 over 20 "
        "seeds in tests/test_driver_solver.py; one call here).",
        "",
        *lines,
        "",
        ("thermox (exact Ornstein–Uhlenbeck sampling in float64, JAX on the CPU, dt = 1/λ_min, "
         "burn-in 0, the warm call timed) ran in its own environment (`.thermox-venv`, "
         "`pip install thermox`; not a dependency of thermospu); its inputs are not quantized, "
         "so its row is the same for both widths."
         if thermox_rows else "thermox was not available for this run."),
        "",
    ]
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
