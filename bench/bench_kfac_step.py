"""Step time of thermodynamic K-FAC against SGD, measured side by side (issue 12's goal).

    .venv/bin/python bench/bench_kfac_step.py [--steps 60] [--out docs/bench_kfac_step.md]

Digits, MLP 64-128-128-10 (tanh), batch 64, inverse update every 10 steps, one torch thread.
Each row interleaves an SGD step and a K-FAC step on the same batches
(:func:`thermospu.host_kfac.train.measure_step_times`), so both see the same machine load; the
ratio is the mean K-FAC step (inverse updates included) over the mean SGD step. The SPU rows run
Method 1 on the emulated SPU (model transport, bit-exact) with 8-bit DAC and ADC. A second
table splits the inverse updates of the 2000-sample row by where their time goes (cProfile,
cumulative seconds of named driver functions per inverse update; the parts overlap where one
calls another).
"""

from __future__ import annotations

import argparse
import cProfile
import pathlib
import platform
import pstats
import time

from thermospu.host_kfac.data import load_dataset
from thermospu.host_kfac.train import TrainConfig, measure_step_times, set_threads

#: Driver functions whose cumulative time the breakdown reports: (file suffix, function, label).
PARTS = [
    ("host_kfac/preconditioner.py", "_update_inverses", "whole inverse update (6 factors)"),
    ("driver/device.py", "_validate_matrix", "validation (symmetry, Cholesky check)"),
    ("driver/device.py", "load", "load: equilibrate, quantize, prove positive definite"),
    ("driver/runner.py", "pilot", "ranging pilot runs"),
    ("driver/transports/protocol.py", "_wait", "device busy (the emulation's job time)"),
    ("driver/transports/protocol.py", "request", "wire frames (encode, CRC, emulator parse)"),
    ("driver/reconstruct.py", "inverse_std_errors", "error bars (batch means over jobs)"),
]

ROWS = [
    ("K-FAC digital", dict(solver="digital")),
    ("K-FAC SPU M1 8/8, 2000 samples", dict(solver="spu", in_bits=8, out_bits=8, samples=2000)),
    ("K-FAC SPU M1 8/8, 500 samples", dict(solver="spu", in_bits=8, out_bits=8, samples=500)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", default="docs/bench_kfac_step.md")
    parser.add_argument("--note", default="",
                        help="a sentence for the page on the conditions of the run (e.g. the "
                             "machine's other load)")
    args = parser.parse_args()
    set_threads(1)
    data = load_dataset("digits")
    lines = ["# K-FAC step time against SGD", "",
             f"Measured by `bench/bench_kfac_step.py --steps {args.steps}` on "
             f"{platform.machine()} ({platform.processor() or 'cpu'}), one torch thread, "
             f"{time.strftime('%Y-%m-%d')}. Digits, MLP 64-128-128-10, batch 64, inverse every "
             f"10 steps; each K-FAC step measured next to an SGD step on the same batch. "
             f"{args.note}".rstrip(), "",
             "| optimizer | SGD step (ms, mean) | K-FAC step (ms, mean) | ratio (mean) | "
             "ratio (median) |", "|---|---|---|---|---|"]
    for label, options in ROWS:
        cfg = TrainConfig(optimizer="kfac", hidden=(128, 128), batch_size=64,
                          inv_update_interval=10, **options)
        t = measure_step_times(cfg, steps=args.steps, data=data)
        row = (f"| {label} | {1e3 * t['sgd_mean_s']:.2f} | {1e3 * t['kfac_mean_s']:.2f} | "
               f"{t['ratio']:.1f}x | {t['ratio_median']:.1f}x |")
        print(row, flush=True)
        lines.append(row)
    lines += ["", *breakdown(data, args.steps)]
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


def breakdown(data, steps: int) -> list[str]:
    """Markdown lines: where the inverse updates of the 2000-sample SPU row spend their time."""
    cfg = TrainConfig(optimizer="kfac", hidden=(128, 128), batch_size=64, inv_update_interval=10,
                      **dict(ROWS)["K-FAC SPU M1 8/8, 2000 samples"])
    measure_step_times(cfg, steps=10, data=data)            # compile and warm up first
    profile = cProfile.Profile()
    profile.enable()
    measure_step_times(cfg, steps=steps, data=data)
    profile.disable()
    stats = pstats.Stats(profile).stats
    updates = max(1, -(-steps // 10))
    lines = [f"Where the {updates} inverse updates of the 2000-sample row went (seconds per "
             f"update, cProfile's cumulative time, so nested parts overlap):", "",
             "| part | s / update |", "|---|---|"]
    for suffix, function, label in PARTS:
        total = sum(entry[3] for (path, _, name), entry in stats.items()
                    if path.endswith(suffix) and name == function)
        lines.append(f"| {label} | {total / updates:.3f} |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    main()
