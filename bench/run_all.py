"""Run every benchmark in bench/ one after the other; each prints its table and writes it to docs/.

    .venv/bin/python bench/run_all.py [NAME ...]      # e.g. bench_spec bench_cycles

Some need the FPGA tools (`pip install -e .[fpga]`) or thermox; see each script's docstring. The
whole set takes over an hour on 2 cores.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

BENCHES = ["bench_spec", "bench_cycles", "bench_simspeed", "bench_synth", "bench_protocol",
           "bench_boards", "bench_costmodel_calibration", "bench_solver", "bench_kfac_step",
           "bench_impairments"]


def main(argv: list[str]) -> int:
    here = pathlib.Path(__file__).parent
    chosen = argv or BENCHES
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        print(f"unknown benchmark(s) {sorted(unknown)}; known: {BENCHES}", file=sys.stderr)
        return 2
    failed = []
    for name in chosen:
        print(f"=== {name}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call([sys.executable, str(here / f"{name}.py")])
        print(f"=== {name}: exit {rc} after {time.perf_counter() - start:.0f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
