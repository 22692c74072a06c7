"""The ``thermospu`` command line: one entry point, one sub-command per job.

It sits on top of every layer (spec, gateware, driver, boards, K-FAC) and nothing imports it.

Each sub-command lives next to the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only dispatches. Sub-command modules keep heavy imports
(torch, amaranth, simulators) inside ``run`` so that ``thermospu --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error instead of one line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module, _parser=p)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv=None) -> int:
    """Run one sub-command. Bad arguments end in a usage line (exit 2); an error the device, the
    driver or a configuration reports (:class:`~thermospu.driver.errors.SPUError`,
    :class:`~thermospu.rtl.spec.config.ConfigError`, :class:`OSError`) in one line on stderr
    (exit 1), with its traceback only under ``--debug``; Ctrl-C in one line (exit 130)."""
    from thermospu.driver.errors import SPUError
    from thermospu.rtl.spec.config import ConfigError

    from .args import UsageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return importlib.import_module(args._module).run(args)
    except UsageError as error:
        args._parser.error(str(error))
    except (SPUError, ConfigError, OSError) as error:
        if args.debug:
            raise
        print(f"thermospu {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"thermospu {args.command}: interrupted", file=sys.stderr)
        return 130

