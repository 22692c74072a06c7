"""Place-and-route both boards and tabulate resources, Fmax and Euler steps per second.

For each board (default SPU parameters, or ``--n``/``--lanes`` overrides) this runs the same flow
as ``thermospu build`` (YoWASP Yosys + nextpnr, see boards/build.py) and prints one markdown
table: resources used/available, achieved Fmax against the system clock, cycles per Euler step
and the steps per second the clock sustains. The table is written to docs/boards_bench.md.

Run::

    .venv/bin/pip install -e '.[fpga]'
    .venv/bin/python bench/bench_boards.py                 # both boards' defaults (long)
    .venv/bin/python bench/bench_boards.py --board ulx3s --n 16 32 --lanes 4

Several ``--n`` values build one design each (lanes = min(board default, N)). A design that does
not fit or fails to build is listed below the table with the reason (e.g. the resources that
overflow) and makes the exit status non-zero, as does a design that misses timing.
"""

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "boards_bench.md"


def table(reports) -> str:
    header = ["board", "N", "P", "clock MHz", "Fmax MHz", "timing", "logic", "FF", "mult",
              "BRAM", "cycles/step", "steps/s", "build s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in reports:
        res = r["resources"]

        def pick(*prefixes):
            for label, v in res.items():
                if label.startswith(prefixes):
                    return f"{v['used']}/{v['available']}"
            return "-"

        lines.append("| " + " | ".join([
            r["title"], str(r["config"]["n"]), str(r["config"]["lanes"]), f"{r['clock_mhz']:g}",
            f"{r['fmax_mhz']:.1f}", "met" if r["timing_met"] else "FAIL",
            pick("logic cells", "LUT4 (placed"), pick("flip-flops"),
            pick("DSP", "multipliers"), pick("block RAM"), str(r["cycles_per_step"]),
            f"{r['steps_per_second']:.3g}", f"{r['build_seconds']:.0f}",
        ]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from thermospu.boards.board import get_board
    from thermospu.boards.build import BOARD_NAMES, build_board

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--board", choices=BOARD_NAMES, action="append",
                        help="board(s) to build (default: all)")
    parser.add_argument("--n", type=int, nargs="*", help="cell counts to build (default: the board's)")
    parser.add_argument("--lanes", type=int, help="MAC lanes (default: the board's, at most N)")
    parser.add_argument("--toolchain", choices=("yowasp", "system"), default="yowasp")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC.name}")
    args = parser.parse_args(argv)

    reports, failures = [], []
    with tempfile.TemporaryDirectory(prefix="thermospu-boards-") as scratch:
        for name in args.board or BOARD_NAMES:
            board = get_board(name)
            for n in args.n or [board.config.n]:
                config = board.config_with(n=n, lanes=args.lanes)
                build_dir = Path(scratch) / f"{name}-n{config.n}-p{config.lanes}"
                try:
                    reports.append(build_board(board, config, board.clock_hz, board.baud,
                                               build_dir, toolchain=args.toolchain,
                                               log=lambda s: print(s, file=sys.stderr)))
                except (RuntimeError, ValueError) as error:
                    failures.append(f"- {board.title}, N={config.n}, P={config.lanes}: {error}")
                    print(failures[-1], file=sys.stderr)
                    continue
                print(table(reports[-1:]).splitlines()[-1], file=sys.stderr)
    text = table(reports) + ("\nFailed builds:\n\n" + "\n".join(failures) + "\n" if failures else "")
    print(text)
    if not args.no_write:
        DOC.write_text(
            "# Board builds (bench/bench_boards.py)\n\n"
            "Measured by `.venv/bin/python bench/bench_boards.py` with the YoWASP toolchain "
            "(nextpnr seed 1). steps/s = clock / cycles per Euler step at N = n_active.\n\n" + text)
    return 0 if not failures and all(r["timing_met"] for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
