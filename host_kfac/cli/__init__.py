"""The ``thermospu`` command line: one entry point, one sub-command per job.

It sits on top of every layer (spec, gateware, driver, boards, K-FAC) and nothing imports it.

Each sub-command lives next to the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches. Sub-command modules keep heavy imports
(torch, amaranth, simulators) inside ``run`` so that ``thermospu --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib

# name -> (module, one-line help). Modules define add_arguments(parser) and run(args).
SUBCOMMANDS = {
    "demo": ("thermospu.host_kfac.cli.demo", "solve a linear system and invert a matrix on the SPU, "
                                      "printing the error against the exact answer"),
    "costmodel": ("thermospu.host_kfac.cli.costmodel", "predicted per-step cost of K-FAC, "
                  "thermodynamic K-FAC on an SPU and Adam: speedup table, exponents, crossover"),
    "train": ("thermospu.host_kfac.cli.train", "train a network with SGD, Adam or K-FAC (digital or SPU solver)"),
    "compare": ("thermospu.host_kfac.cli.compare", "compare SGD, Adam, digital and thermodynamic K-FAC; write a report"),
    "sim-server": ("thermospu.rtl.sim.server", "run the SPU gateware in a simulator (Icarus or "
                                                  "Verilator), reachable over TCP as sim://HOST:PORT"),
    "build": ("thermospu.boards.build", "build the SPU bitstream for an FPGA board (iCEBreaker, ULX3S) and report resources, Fmax and steps/s"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="thermospu",
        description="thermospu: a fixed-point emulation of a thermodynamic stochastic processing "
                    "unit (SPU) -- golden model, gateware, driver and thermodynamic K-FAC. "
                    "With no board attached every command runs on the emulated SPU and says so.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return importlib.import_module(args._module).run(args)

