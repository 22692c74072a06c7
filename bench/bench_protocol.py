"""Cost of the wire protocol: the model transport against the bare golden model, and the
simulated transports' throughput.

1. **Model transport overhead** (N = 16, 64, 256): the golden model's compute time for a
   1000-sample job, against what the ``model`` transport adds to a call (host encodes frames,
   the emulated device parses them, runs the golden model in a thread, encodes the results, the
   host decodes them and polls STATUS meanwhile), measured as transport minus bare golden model
   on a one-sample job, for a solve-like job (moments off) and an inverse-like one (moments on:
   N(N+1)/2 sums to read), with A cached (the driver skips reloading the same matrix) and
   loaded by the call.
2. **Simulated transports** (N = 8): protocol round trips per second (STATUS) and complete
   ``run_jobs`` calls per second for a short job, on Icarus and Verilator.

Run::

    .venv/bin/python bench/bench_protocol.py            # everything, writes docs/protocol_bench.md
    .venv/bin/python bench/bench_protocol.py --no-sim   # the model part only

Compute times are medians of ``--repeats`` runs, protocol costs the least of ten times as many
(interleaved with the reference runs); the table says on which machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "protocol_bench.md"


def _job(n, samples, moments, rng):
    from thermospu.rtl.spec.config import JobParams, SPUConfig

    config = SPUConfig(n=n)
    m = rng.normal(size=(n, n))
    spd = m @ m.T / n + np.eye(n)
    a_q = np.round(spd / np.abs(spd).max() * config.a_max_code).astype(np.int64)
    b_q = rng.integers(-config.b_max_code, config.b_max_code, (1, n))
    params = JobParams(n_active=n, k=6, b_shift=0, sigma_q=1000, sigma_shift=4, burn_in=64,
                       samples=samples, moments=moments)
    return config, a_q, b_q, params


def _times(fns, repeats, estimate=statistics.median):
    """Wall time of each function (``estimate`` over ``repeats`` runs), the functions run
    interleaved so that load from other processes hits them alike."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, t in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return [estimate(t) for t in times]


def bench_model(sizes, samples, repeats):
    """Per N and moments switch: the golden model's compute for a ``samples`` job and the
    protocol's cost per call, measured on a one-sample job (where compute is negligible), with
    the coupling matrix cached or loaded."""
    import dataclasses

    from thermospu.driver.transports.model import ModelBackend
    from thermospu.rtl.spec import golden

    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        for moments in (False, True):
            config, a_q, b_q, params = _job(n, samples, moments, rng)
            tiny = dataclasses.replace(params, burn_in=0, samples=1)
            backend = ModelBackend(config)
            assert backend.run_jobs(a_q, b_q, params, [1]) == golden.run_jobs(config, a_q, b_q, params, [1])

            def fresh():
                backend._loaded_a = None
                backend.run_jobs(a_q, b_q, tiny, [1])

            (t_golden,) = _times([lambda: golden.run_jobs(config, a_q, b_q, params, [1])],
                                 repeats)
            before = dict(backend.client.stats)
            backend.run_jobs(a_q, b_q, tiny, [1])
            after = dict(backend.client.stats)
            per_call = {k: after[k] - before[k] for k in ("requests", "bytes_sent",
                                                          "bytes_received")}
            # The least time of many short runs: the protocol's own cost, least disturbed by
            # other processes on the machine.
            t_golden_tiny, t_model_tiny, t_fresh = _times(
                [lambda: golden.run_jobs(config, a_q, b_q, tiny, [1]),
                 lambda: backend.run_jobs(a_q, b_q, tiny, [1]), fresh], 10 * repeats, min)
            backend.close()
            overhead = t_model_tiny - t_golden_tiny
            rows.append(dict(n=n, moments=moments, samples=samples, golden=t_golden,
                             overhead=overhead,
                             load_a=t_fresh - t_model_tiny, **per_call))
            print(f"N={n:4d} moments={moments!s:5}: golden {t_golden * 1e3:8.2f} ms, "
                  f"protocol overhead {overhead * 1e3:6.2f} ms/call, "
                  f"A load {(t_fresh - t_model_tiny) * 1e3:6.2f} ms")
    return rows


def bench_sim(simulators, n, seconds):
    from thermospu.driver.transports import open_backend
    from thermospu.rtl.spec import golden
    from thermospu.rtl.spec.config import JobParams
    from thermospu.rtl.sim.runner import missing_simulator_reason, verilator_environment
    from thermospu.rtl.spec.wire import Command

    os.environ.update(verilator_environment())
    rows = []
    for simulator in simulators:
        reason = missing_simulator_reason(simulator)
        if reason:
            print(f"sim:{simulator}: skipped ({reason})")
            continue
        t0 = time.perf_counter()
        backend = open_backend(f"sim:{simulator}", n=n)
        start_s = time.perf_counter() - t0
        config = backend.config
        rng = np.random.default_rng(1)
        a_q = rng.integers(-config.a_max_code, config.a_max_code, (n, n))
        b_q = rng.integers(-config.b_max_code, config.b_max_code, (1, n))
        params = JobParams(n_active=n, k=4, b_shift=0, sigma_q=100, sigma_shift=2, burn_in=0,
                           samples=16, moments=True)
        assert backend.run_jobs(a_q, b_q, params, [3]) == golden.run_jobs(config, a_q, b_q, params, [3])

        def rate(fn):
            count, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                fn()
                count += 1
            return count / (time.perf_counter() - t0)

        status_rate = rate(lambda: backend.client.request(Command.STATUS))
        job_rate = rate(lambda: backend.run_jobs(a_q, b_q, params, [3]))
        backend.close()
        rows.append(dict(simulator=simulator, n=n, start_s=start_s, status_rate=status_rate,
                         job_rate=job_rate, samples=params.samples))
        print(f"sim:{simulator}: start {start_s:.1f} s, STATUS {status_rate:.1f}/s, "
              f"run_jobs {job_rate:.2f}/s")
    return rows


def markdown(model_rows, sim_rows, repeats) -> str:
    load = os.getloadavg()[0]
    lines = [
        "# Wire protocol: cost of going through frames",
        "",
        f"Measured by `bench/bench_protocol.py` on {platform.machine()} / "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (load average {load:.1f} at the end: other jobs shared the "
        f"machine); compute times are medians of {repeats} runs, overheads the least of "
        f"{10 * repeats}.",
        "",
        "## Model transport: per-call overhead against the golden model's compute",
        "",
        "Default widths (a, b 16 bits, x 24, y 16); columns explained below the table.",
        "",
        "| N | moments | golden compute (ms) | protocol overhead per call (ms) "
        "| overhead / compute | loading A (ms) | requests per call | bytes out / in per call |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in model_rows:
        lines.append(
            f"| {r['n']} | {'on' if r['moments'] else 'off'} | {r['golden'] * 1e3:.1f} | "
            f"{r['overhead'] * 1e3:.2f} | {100 * r['overhead'] / r['golden']:.1f} % | "
            f"{r['load_a'] * 1e3:.2f} | {r['requests']:.0f} | "
            f"{r['bytes_sent']:.0f} / {r['bytes_received']:.0f} |")
    lines += [
        "",
        "*golden compute*: `golden.run_jobs` called directly, "
        f"{model_rows[0]['samples'] if model_rows else '?'} samples after a burn-in of 64 (one "
        "chain). *protocol overhead*: the `model` transport minus the bare golden model on the "
        "same matrix with a one-sample job, where compute is negligible, so that what is left is "
        "the protocol: encoding and parsing frames, CRCs, the device's job thread, STATUS polls "
        "and reading the sums back (N(N+1)/2 second moments with moments on); the least time "
        "of interleaved runs, the figure least disturbed by other load on the machine. *loading A*: the extra time of a call that loads the coupling matrix "
        "(the driver skips it when the same matrix is already loaded, as for the pilot and main "
        "runs of one solve). A longer job also waits up to one STATUS poll interval (2 ms) after "
        "it ends. *requests* and *bytes* are per call with A cached.",
    ]
    lines += ["", "## Simulated transports (gateware under cocotb, loopback TCP)", ""]
    if sim_rows:
        lines += [
            "| transport | N | start (s) | STATUS round trips/s | run_jobs calls/s (16 samples, moments) |",
            "|---|---|---|---|---|",
        ]
        for r in sim_rows:
            lines.append(f"| sim:{r['simulator']} | {r['n']} | {r['start_s']:.1f} | "
                         f"{r['status_rate']:.1f} | {r['job_rate']:.2f} |")
        lines += ["", "Start time includes compiling the simulation model when it was not cached."]
    else:
        lines.append("(not measured: no simulator, or `--no-sim`)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-sim", action="store_true", help="skip the simulated transports")
    parser.add_argument("--sim-n", type=int, default=8)
    parser.add_argument("--sim-seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    model_rows = bench_model(args.sizes, args.samples, args.repeats)
    sim_rows = [] if args.no_sim else bench_sim(["icarus", "verilator"], args.sim_n, args.sim_seconds)
    text = markdown(model_rows, sim_rows, args.repeats)
    print(text)
    args.output.write_text(text)
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
