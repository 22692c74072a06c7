"""The ``"sim:icarus"`` / ``"sim:verilator"`` transports: the gateware in a simulator.

The protocol engine and the SPU core (:class:`~thermospu.rtl.gateware.protocol.StreamSPU`) run as
Verilog under cocotb in a child process (``thermospu sim-server``); the cocotb bridge
(:mod:`.sim_bridge`) connects their byte streams to a loopback TCP socket that this transport
reaches like any other link. Compiled models are cached (:mod:`thermospu.rtl.sim.runner`), so only
the first start of a configuration pays for the build (Verilator: tens of seconds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from thermospu.rtl.spec.config import SPUConfig

from ..errors import TransportError
from .links import SocketLink
from .protocol import FramedBackend

__all__ = ["SimBackend", "START_TIMEOUT"]

#: Seconds allowed for building (first time) and starting a simulation.
START_TIMEOUT = 600.0
#: Seconds a simulator this transport started waits for it to connect before it exits (a
#: server left behind by a host that died does not run for ever).
ACCEPT_TIMEOUT = 120.0


class SimBackend(FramedBackend):
    """The simulated gateware behind a TCP socket. Open with :meth:`start` or :meth:`connect`."""

    _process: subprocess.Popen | None = None
    _workdir: Path | None = None

    @classmethod
    def start(cls, simulator: str, config: SPUConfig, *, name: str | None = None,
              max_request_payload: int | None = None, timeout: float = 10.0,
              retries: int = 3, deadline: float | None = None) -> "SimBackend":
        """Start ``thermospu sim-server`` for ``config`` on ``simulator`` and connect to it; the
        server stops when this backend is closed."""
        from thermospu.rtl.sim.runner import SIMULATORS, missing_simulator_reason

        if simulator not in SIMULATORS:
            raise TransportError(f"unknown simulator {simulator!r}; known: "
                                 f"{', '.join('sim:' + s for s in SIMULATORS)}")
        reason = missing_simulator_reason(simulator)
        if reason:
            raise TransportError(f"sim:{simulator} cannot run: {reason}")
        workdir = Path(tempfile.mkdtemp(prefix=f"thermospu-sim-{simulator}-"))
        port_file = workdir / "port"
        command = [sys.executable, "-m", "thermospu.rtl.sim.server",
                   "--simulator", simulator, "--port", "0", "--port-file", str(port_file),
                   "--run-dir", str(workdir / "run"), "--accept-timeout", str(ACCEPT_TIMEOUT)]
        for field, value in config.to_dict().items():
            command += [f"--{field.replace('_', '-')}", str(value)]
        if max_request_payload is not None:
            command += ["--max-request-payload", str(max_request_payload)]
        log_path = workdir / "server.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                tail = log_path.read_text(errors="replace")[-3000:]
                shutil.rmtree(workdir, ignore_errors=True)
                raise TransportError(f"sim:{simulator} did not start (exit {process.returncode})"
                                     f":\n{tail}")
            time.sleep(0.05)
        port = int(port_file.read_text())
        try:
            backend = cls(SocketLink("127.0.0.1", port), name or f"sim:{simulator}",
                          f"simulated gateware ({simulator}, cocotb) on 127.0.0.1:{port}",
                          expected_config=config, timeout=timeout, retries=retries,
                          deadline=deadline)
        except BaseException:
            process.kill()
            process.wait()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        backend._process, backend._workdir = process, workdir
        return backend

    @classmethod
    def connect(cls, host: str, port: int, *, name: str | None = None, timeout: float = 10.0,
                retries: int = 3, deadline: float | None = None) -> "SimBackend":
        """Connect to a simulation started with ``thermospu sim-server`` (its config is what
        INFO reports)."""
        return cls(SocketLink(host, port), name or f"sim://{host}:{port}",
                   f"simulated gateware on {host}:{port}", timeout=timeout, retries=retries,
                   deadline=deadline)

    def close(self) -> None:
        """Close the link; a simulation this backend started then ends, and is waited for."""
        super().close()
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
