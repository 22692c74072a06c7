"""``thermospu costmodel``: predicted per-step cost of Adam, K-FAC and thermodynamic K-FAC.

Prints (markdown) the parameters used with their units and sources, per-step times and speedups
on transformer-like and GNN-like layer stacks for an analog SPU, a faster what-if SPU and our
FPGA emulation, the asymptotic exponents fitted on a width sweep next to the analytic ones, and
the crossover width against the cell time constant and the condition number. With ``--out`` it
also writes the report and two plots there. Any parameter can be changed with
``--set SCOPE.NAME=VALUE`` (units accepted: ``--set spu.tau_relax_s=10ns``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

SCOPES = ("digital", "spu", "whatif", "ice40", "ecp5", "ecp5-ci", "accuracy", "schedule")
#: The FPGA profiles: the boards' default builds and the ULX3S CI build (all meet their clocks).
FPGA_SCOPES = ("ice40", "ecp5", "ecp5-ci")
SWEEP_ROWS = 512
SWEEP_WIDTHS = [2**e for e in range(4, 18)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--digital", choices=("gpu", "cpu"), default="gpu",
                        help="digital machine: an A100-class GPU (datasheet rates, assumed "
                             "efficiencies) or this CPU as calibrated (default: gpu)")
    parser.add_argument("--calibration", type=Path, metavar="JSON",
                        help="digital profile written by bench/bench_costmodel_calibration.py "
                             "(replaces the built-in CPU numbers; implies --digital cpu)")
    parser.add_argument("--workload", action="append", metavar="NAME",
                        help="workload(s) of the speedup table (default: all): "
                             "vit-s16, vit-b16, gnn-molpcba, transformer-4096, digits-mlp")
    parser.add_argument("--set", action="append", default=[], metavar="SCOPE.NAME=VALUE",
                        help=f"override a parameter; scopes: {', '.join(SCOPES)} "
                             f"(e.g. spu.tau_relax_s=100ns, accuracy.condition_number=1000)")
    parser.add_argument("--overlap", action="store_true",
                        help="let the SPU work while the host computes (charges only the SPU "
                             "time beyond the host's; optimistic) in the speedup tables")
    parser.add_argument("--list-parameters", action="store_true",
                        help="print every parameter with unit and source, then stop")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="also write report.md and the plots (PNG) into DIR")
    parser.add_argument("--no-plots", action="store_true", help="with --out: skip the plots")


def _profiles(args) -> dict:
    from thermospu.host_kfac import costmodel as cm
    digital = cm.GPU_A100 if args.digital == "gpu" and not args.calibration else \
        cm.CPU_THIS_MACHINE
    if args.calibration:
        try:
            digital = cm.DigitalHardware(**json.loads(args.calibration.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise cm.CostModelError(f"cannot use calibration {args.calibration}: {error}")
    profiles = {"digital": digital, "spu": cm.ANALOG_SPU_PROJECTED,
                "whatif": cm.ANALOG_SPU_WHATIF, "ice40": cm.FPGA_ICE40_EMULATION,
                "ecp5": cm.FPGA_ECP5_EMULATION, "ecp5-ci": cm.FPGA_ECP5_CI_EMULATION,
                "accuracy": cm.SolverAccuracy(),
                "schedule": cm.KFACSchedule()}
    overrides: dict[str, dict] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        scope, dot, name = key.partition(".")
        if not sep or not dot or scope not in SCOPES:
            raise cm.CostModelError(f"--set {item!r}: expected SCOPE.NAME=VALUE with SCOPE one "
                                    f"of {', '.join(SCOPES)}")
        overrides.setdefault(scope, {})[name] = value
    for scope, values in overrides.items():
        profiles[scope] = cm.with_overrides(profiles[scope], values)
    profiles["overlap"] = args.overlap
    return profiles


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 1e4 else f"{ms:.2e}"


def _x(ratio: float) -> str:
    return f"{ratio:.3g}x"


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"] + \
        ["| " + " | ".join(r) + " |" for r in rows]


def speedup_section(p: dict, workloads: list, spu_key: str) -> list[str]:
    from thermospu.host_kfac import costmodel as cm
    spu = p[spu_key]
    rows = []
    for w in workloads:
        c = cm.all_optimizers(w, p["digital"], spu, p["schedule"], p["accuracy"],
                              overlap=p["overlap"])
        adam, kfac, m1, m2, raw = (c[k] for k in ("adam", "kfac", "thermo-m1", "thermo-m2",
                                                 "thermo-m2-raw"))
        crossbar = max(layer.rows * max(layer.a, layer.g) for layer in w.layers)
        rows.append([w.name, _ms(adam.total_s), _ms(kfac.total_s), _ms(m1.total_s),
                     _ms(m2.total_s), _ms(raw.total_s), _x(kfac.total_s / m1.total_s),
                     _x(kfac.total_s / m2.total_s), _x(kfac.optimizer_s / m2.optimizer_s),
                     _x(kfac.total_s / raw.total_s), _x(adam.total_s / m2.total_s),
                     f"{kfac.memory_bytes / 1e6:.3g} / {m2.memory_bytes / 1e6:.3g} / "
                     f"{raw.memory_bytes / 1e6:.3g}", f"{crossbar:.2g}"])
        notes = sorted(set(note for note in m1.notes + m2.notes + raw.notes
                           if "hidden" not in note))
        if notes:
            rows[-1][0] += " (" + "; ".join(notes) + ")"
    overlap = " (SPU overlapping the host)" if p["overlap"] else ""
    return [f"### {spu.name}{overlap}", ""] + _table(
        ["workload", "Adam (ms)", "K-FAC (ms)", "thermo M1 (ms)", "thermo M2 (ms)",
         "M2 raw factors (ms)", "M1 vs K-FAC", "M2 vs K-FAC", "M2 vs K-FAC, optimizer only",
         "M2 raw vs K-FAC", "M2 vs Adam", "optimizer memory K-FAC / M2 / M2 raw (MB)",
         "raw-factor crossbar (elements)"], rows) + [""]


def sweep_costs(p: dict, spu, widths) -> dict[str, list[float]]:
    """Optimizer-only seconds per step on one square layer, per optimizer, over widths."""
    from thermospu.host_kfac import costmodel as cm
    series: dict[str, list[float]] = {}
    for n in widths:
        w = cm.width_sweep_workload(n, rows=SWEEP_ROWS)
        for name, costs in cm.all_optimizers(w, p["digital"], spu, p["schedule"], p["accuracy"],
                                             backprop=False).items():
            series.setdefault(name, []).append(costs.total_s)
    return series


def exponent_section(p: dict) -> list[str]:
    from thermospu.host_kfac import costmodel as cm
    practical = [1024, 2048, 4096, 8192, 16384]
    asymptotic = [1 << 24, 1 << 25, 1 << 26]
    near = sweep_costs(p, p["spu"], practical)
    far = sweep_costs(p, p["spu"], asymptotic)
    rows = []
    for name in ("adam", "kfac", "thermo-m1", "thermo-m2", "thermo-m2-raw"):
        rows.append([name, f"{cm.fit_exponent(practical, near[name]):.2f}",
                     f"{cm.fit_exponent(asymptotic, far[name]):.2f}",
                     str(cm.ANALYTIC_EXPONENTS[(name, 'total')])])
    ratio_near = [k / t for k, t in zip(near["kfac"], near["thermo-m2"])]
    ratio_far = [k / t for k, t in zip(far["kfac"], far["thermo-m2"])]
    rows.append(["K-FAC / M2 (the advantage)", f"{cm.fit_exponent(practical, ratio_near):.2f}",
                 f"{cm.fit_exponent(asymptotic, ratio_far):.2f}", "1"])
    return [f"Optimizer time per step (no forward/backward) of one n x n layer with "
            f"{SWEEP_ROWS} rows, {p['digital'].name} and {p['spu'].name}; slope of log time "
            f"against log n.", ""] + _table(
        ["optimizer", "fitted, n = 1024..16384", "fitted, n = 2^24..2^26", "analytic"],
        rows) + [""]


def crossover_section(p: dict) -> list[str]:
    from thermospu.host_kfac import costmodel as cm
    taus = [1e-6, 1e-7, 1e-8, 1e-9]
    kappas = [10.0, 100.0, 1000.0]
    rows = []
    for method in (1, 2):
        for tau in taus:
            spu = dataclasses.replace(p["spu"], tau_relax_s=tau)
            cells = []
            for kappa in kappas:
                acc = dataclasses.replace(p["accuracy"], condition_number=kappa)
                n = cm.crossover_width(p["digital"], spu, p["schedule"], acc, method=method,
                                       rows=SWEEP_ROWS)
                cells.append("never (< 2^20)" if n is None else f"{n:.0f}")
            rows.append([f"M{method}", f"{tau * 1e9:g} ns"] + cells)
    return [f"Width from which thermodynamic K-FAC beats digital K-FAC per step (one square "
            f"layer, {SWEEP_ROWS} rows, optimizer time only), against the cell time constant "
            f"tau and the condition number kappa; other parameters as above.", ""] + _table(
        ["method", "tau"] + [f"kappa = {k:g}" for k in kappas], rows) + [""]


def fpga_section(p: dict, workloads: list) -> list[str]:
    from thermospu.host_kfac import costmodel as cm
    lines = []
    for key in FPGA_SCOPES:
        emu = p[key]
        board = dataclasses.replace(emu, scale_to_width=False)
        rate = 1 / emu.step_seconds(emu.cells)
        rows = []
        fits = dataclasses.replace(cm.width_sweep_workload(emu.cells, rows=SWEEP_ROWS),
                                   name=f"one {emu.cells} x {emu.cells} layer")
        for w in [fits] + workloads:
            on_board = cm.thermo_kfac_step(w, p["digital"], board, p["schedule"], p["accuracy"])
            scaled = cm.thermo_kfac_step(w, p["digital"], emu, p["schedule"], p["accuracy"])
            kfac = cm.kfac_step(w, p["digital"], p["schedule"])
            rows.append([w.name, _ms(kfac.total_s), _ms(on_board.total_s),
                         "; ".join(on_board.notes) or "all layers fit", _ms(scaled.total_s),
                         _x(kfac.total_s / scaled.total_s)])
        clock = (f"{emu.cycles_per_step(emu.cells)} SPUCore cycles per step at "
                 f"{emu.clock_hz / 1e6:g} MHz")
        if emu.steps_per_s is None:
            source = f"from the clock: {clock}"
        elif "steps_per_s" in emu.overridden:
            source = f"steps_per_s set by the user; {clock}"
        else:
            source = f"steps_per_s as measured; {clock}"
        lines += [f"### {emu.name}: {rate:,.0f} Euler steps/s ({source})", ""] + _table(
            ["workload", "K-FAC (ms)", "M2 on the board (ms)", "board capacity",
             "M2, emulator scaled to the width (ms)", "K-FAC / scaled emulator"], rows) + [""]
    return lines


def parameter_section(p: dict) -> list[str]:
    from thermospu.host_kfac import costmodel as cm
    lines = []
    for key in SCOPES:
        profile = p[key]
        title = f"{key}: {profile.name}" if hasattr(profile, "name") else key
        lines += [f"### {title}", ""] + _table(
            ["parameter", "value", "unit", "source of the default"],
            [list(r) for r in cm.parameter_table(profile)], "llll") + [""]
    return lines


def plot(p: dict, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from thermospu.host_kfac import costmodel as cm

    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    base = sweep_costs(p, p["spu"], SWEEP_WIDTHS)
    fast = sweep_costs(p, p["whatif"], SWEEP_WIDTHS)
    styles = {"adam": ("Adam", "tab:gray"), "kfac": ("digital K-FAC", "black"),
              "thermo-m1": ("thermo M1", "tab:blue"), "thermo-m2": ("thermo M2", "tab:red")}
    wide = [i for i, n in enumerate(SWEEP_WIDTHS) if n >= 4096]

    def slope(series):
        return cm.fit_exponent([SWEEP_WIDTHS[i] for i in wide], [series[i] for i in wide])
    for key, (label, color) in styles.items():
        ax.loglog(SWEEP_WIDTHS, base[key], color=color,
                  label=f"{label} (slope {slope(base[key]):.2f})")
        if key.startswith("thermo"):
            ax.loglog(SWEEP_WIDTHS, fast[key], color=color, linestyle="--",
                      label=f"{label}, tau = {p['whatif'].tau_relax_s * 1e9:g} ns "
                            f"(slope {slope(fast[key]):.2f})")
    for spu, style in ((p["spu"], "-"), (p["whatif"], "--")):
        n = cm.crossover_width(p["digital"], spu, p["schedule"], p["accuracy"], rows=SWEEP_ROWS)
        if n is not None and n <= SWEEP_WIDTHS[-1]:
            ax.axvline(n, color="tab:red", linestyle=style, alpha=0.4)
            ax.annotate(f"M2 crossover\nn = {n:.0f}", (n, ax.get_ylim()[0]), fontsize=8,
                        xytext=(4, 10), textcoords="offset points")
    ax.set_xlabel("layer width n (one n x n layer, 512 rows); slopes fitted over n >= 4096")
    ax.set_ylabel("optimizer time per step (s)")
    ax.set_title(f"{p['digital'].name} vs analog SPU (tau = {p['spu'].tau_relax_s * 1e9:g} ns"
                 f" solid), kappa = {p['accuracy'].condition_number:g}", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="major", alpha=0.3)
    path = out / "runtime_vs_width.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    paths.append(path)

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    taus = [10 ** (e / 4) for e in range(-40, -23)]
    for kappa, color in ((10.0, "tab:green"), (100.0, "tab:orange"), (1000.0, "tab:purple")):
        acc = dataclasses.replace(p["accuracy"], condition_number=kappa)
        ns = [cm.crossover_width(p["digital"], dataclasses.replace(p["spu"], tau_relax_s=t),
                                 p["schedule"], acc, rows=SWEEP_ROWS) for t in taus]
        pts = [(t, n) for t, n in zip(taus, ns) if n is not None]
        ax.loglog([t for t, _ in pts], [n for _, n in pts], color=color, marker="o",
                  markersize=3, label=f"kappa = {kappa:g}")
    ax.set_xlabel("cell time constant tau (s)")
    ax.set_ylabel("crossover width n (Method 2 vs K-FAC)")
    ax.set_title(f"{p['digital'].name}; eps = {p['accuracy'].target_error:g}", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    path = out / "crossover_vs_tau.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    paths.append(path)
    return paths


def report(p: dict, workloads: list) -> str:
    lines = ["# Cost-model report", "",
             "Generated by `thermospu costmodel`; times are per training step, forward and "
             "backward passes included unless said otherwise; speedups > 1 favour the "
             "thermodynamic method. Layer shapes:", ""]
    lines += [f"- **{w.name}**: {w.description} ({len(w.layers)} linear layers, "
              f"{w.parameters / 1e6:.1f} M parameters)" for w in workloads]
    lines += ["", "## Predicted per-step time and speedups", ""]
    lines += speedup_section(p, workloads, "spu") + speedup_section(p, workloads, "whatif")
    lines += ["## The FPGA emulation as an SPU", ""] + fpga_section(p, workloads)
    lines += ["## Asymptotic exponents", ""] + exponent_section(p)
    lines += ["## Crossover width", ""] + crossover_section(p)
    lines += ["## Parameters", ""] + parameter_section(p)
    return "\n".join(lines)


def run(args) -> int:
    from thermospu.host_kfac import costmodel as cm
    try:
        p = _profiles(args)
        names = args.workload or list(cm.WORKLOADS)
        unknown = [n for n in names if n not in cm.WORKLOADS]
        if unknown:
            raise cm.CostModelError(f"unknown workload(s) {unknown}; known: {list(cm.WORKLOADS)}")
    except cm.CostModelError as error:
        print(f"thermospu costmodel: {error}", file=sys.stderr)
        return 2
    if args.list_parameters:
        print("\n".join(parameter_section(p)))
        return 0
    text = report(p, [cm.WORKLOADS[n] for n in names])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(text + "\n")
        written = [args.out / "report.md"]
        if not args.no_plots:
            written += plot(p, args.out)
        print("wrote " + ", ".join(str(w) for w in written), file=sys.stderr)
    return 0
