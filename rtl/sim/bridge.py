"""cocotb test module run inside the simulator: a TCP socket <-> the gateware's byte streams.

Started by :mod:`thermospu.rtl.sim.server` (never imported by the host otherwise). The one
cocotb test, :func:`serve`, listens on ``127.0.0.1:$THERMOSPU_SIM_PORT`` (0 picks a free port),
writes the port it got to ``$THERMOSPU_SIM_PORT_FILE``, accepts one connection and then moves
bytes: from the socket into ``rx_bytes`` (one per cycle the engine is ready), from ``tx_bytes``
back to the socket. Simulated time only advances while there is something to do (bytes in
flight or the core busy); otherwise the bridge blocks on the socket, so an idle simulation costs
no CPU. The test ends when the host closes the connection.
"""

from __future__ import annotations

import os
import select
import socket

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

#: Clock period of the simulation (ns); arbitrary, the design has no timing.
CLOCK_PERIOD_NS = 10
#: Clock cycles run in one go while only the core is busy (no bytes moving).
BUSY_BURST = 1024
#: How long the bridge blocks on an idle socket before looking again (s).
IDLE_POLL = 0.5


@cocotb.test()
async def serve(dut):
    Clock(dut.clk, CLOCK_PERIOD_NS, unit="ns").start()
    dut.rst.value = 1
    dut.rx_bytes__valid.value = 0
    dut.tx_bytes__ready.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", int(os.environ.get("THERMOSPU_SIM_PORT", "0"))))
    listener.listen(1)
    port_file = os.environ.get("THERMOSPU_SIM_PORT_FILE")
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write(str(listener.getsockname()[1]))
        os.replace(port_file + ".tmp", port_file)
    # THERMOSPU_SIM_ACCEPT_TIMEOUT: seconds to wait for the host (0 or unset: for ever). No
    # host in time ends the simulation quietly; the server tells its user (no test failure).
    accept_timeout = float(os.environ.get("THERMOSPU_SIM_ACCEPT_TIMEOUT") or 0)
    listener.settimeout(accept_timeout or None)
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        dut._log.info("no host connected within %g s; the simulation ends", accept_timeout)
        return
    finally:
        listener.close()
    connected_file = os.environ.get("THERMOSPU_SIM_CONNECTED_FILE")
    if connected_file:
        open(connected_file, "w").close()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.setblocking(False)

    idle_timeout = int(os.environ.get("THERMOSPU_SIM_IDLE_TIMEOUT", "4096"))
    to_device = bytearray()
    while True:
        hunting = bool(dut.hunting.value)
        receiving = bool(dut.receiving.value)
        busy = bool(dut.busy.value)
        processing = not (hunting or receiving)
        # Block on the socket only when the gateware has nothing to do without new bytes.
        block = not (to_device or processing or busy)
        readable, _, _ = select.select([conn], [], [], IDLE_POLL if block else 0)
        if readable:
            try:
                data = conn.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break                       # the host closed the link: end the simulation
            to_device += data
        if to_device or processing:
            await _move_bytes(dut, conn, to_device)
        elif busy:
            await _cycles(dut, BUSY_BURST)
        elif receiving and not readable:
            # The host stopped mid-frame: let the engine's idle timeout answer TRUNCATED.
            await _cycles(dut, idle_timeout + 1)
    conn.close()


async def _cycles(dut, count: int) -> None:
    """Let ``count`` clock cycles pass in one simulator call (no Python per cycle), ending
    just after a falling edge as every other wait here does.

    Nobody watches ``tx_bytes`` meanwhile, so it is held not ready: an answer the engine
    starts during these cycles (the TRUNCATED of a frame cut short, when its idle timeout
    expires) waits for :func:`_move_bytes` instead of going nowhere."""
    dut.tx_bytes__ready.value = 0
    await Timer(count * CLOCK_PERIOD_NS, unit="ns")
    await FallingEdge(dut.clk)


async def _move_bytes(dut, conn, to_device: bytearray) -> None:
    """Clock the design byte by byte until it has taken ``to_device`` and finished answering.

    Signals are sampled and driven at falling edges: the engine's ``rx_bytes.ready`` and
    ``tx_bytes.valid`` depend only on its state, so what is read there is what the next rising
    edge sees, and a byte offered there is taken at that edge if ``ready`` is high. Only
    here is ``tx_bytes.ready`` high, so every byte the engine sends is one sampled here."""
    to_host = bytearray()
    for _ in range(1 << 20):
        await FallingEdge(dut.clk)
        dut.tx_bytes__ready.value = 1
        if to_device:
            dut.rx_bytes__valid.value = 1
            dut.rx_bytes__payload.value = to_device[0]
            if dut.rx_bytes__ready.value:
                del to_device[0]
        else:
            dut.rx_bytes__valid.value = 0
            if dut.hunting.value or dut.receiving.value:
                break
        if dut.tx_bytes__valid.value:
            to_host.append(int(dut.tx_bytes__payload.value))
    if to_host:
        conn.setblocking(True)
        conn.sendall(bytes(to_host))
        conn.setblocking(False)
