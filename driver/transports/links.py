"""Byte links from the host to a device: in-process, TCP socket, serial port.

A link moves bytes and nothing else; framing, retries and commands are the protocol client's
(:mod:`.protocol`). Every link has the same three methods.
"""

from __future__ import annotations

import abc
import random
import select
import socket
import time

from ..errors import TransportError
from thermospu.rtl.spec.emulator import EmulatedDevice

__all__ = ["Link", "InProcessLink", "SocketLink", "SerialLink", "FaultInjectingLink"]


class Link(abc.ABC):
    """A bidirectional byte stream to a device."""

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Send all of ``data``."""

    @abc.abstractmethod
    def read(self, timeout: float) -> bytes:
        """Bytes that arrive within ``timeout`` seconds (returns as soon as any are there);
        ``b""`` if none did."""

    def close(self) -> None:
        """Release the link."""


class InProcessLink(Link):
    """The link to an :class:`EmulatedDevice` in this process.

    The device answers synchronously inside :meth:`write`; a frame that stops mid-way is
    answered TRUNCATED at the next :meth:`read` that finds nothing else to return, which is
    what the gateware's idle timeout does on a real line.
    """

    def __init__(self, device: EmulatedDevice):
        self.device = device

    def write(self, data: bytes) -> None:
        self.device.receive(data)

    def read(self, timeout: float) -> bytes:
        out = self.device.take_output()
        if not out and self.device.mid_frame:
            self.device.line_idle()
            out = self.device.take_output()
        if not out:
            time.sleep(timeout)
        return out

    def close(self) -> None:
        self.device.close()


class SocketLink(Link):
    """A TCP connection, e.g. to ``thermospu sim-server`` (the simulated gateware)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float = 10.0):
        try:
            self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as e:
            raise TransportError(f"cannot connect to {host}:{port}: {e}") from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)

    def write(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.sendall(data)
        except OSError as e:
            raise TransportError(f"socket write failed: {e}") from e
        finally:
            self.sock.setblocking(False)

    def read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
        except (OSError, ValueError) as e:     # ValueError: the socket was closed
            raise TransportError(f"socket read failed: {e}") from e
        if not ready:
            return b""
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise TransportError(f"socket read failed: {e}") from e
        if not data:
            raise TransportError("the device closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


class SerialLink(Link):
    """A serial port through pyserial (a board's USB-UART), 8N1, no flow control.

    Parameters
    ----------
    port : str
        Device path (``/dev/ttyUSB1``, ``COM3``) or a pyserial URL.
    baud : int
        Bits per second; must match the board's UART.
    """

    def __init__(self, port: str, baud: int):
        import serial  # pyserial; imported here so that other transports do not need it

        try:
            self.port = serial.serial_for_url(port, baudrate=baud, timeout=0, write_timeout=10)
        except (serial.SerialException, ValueError) as e:
            raise TransportError(f"cannot open serial port {port!r} at {baud} baud: {e}") from e
        self.port.reset_input_buffer()
        # SerialException is an OSError; termios and the USB stack raise other OSErrors.
        self._error = (serial.SerialException, OSError)

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except self._error as e:
            raise TransportError(f"serial write failed: {e}") from e

    def read(self, timeout: float) -> bytes:
        try:
            self.port.timeout = timeout
            first = self.port.read(1)
            if not first:
                return b""
            self.port.timeout = 0
            return first + self.port.read(self.port.in_waiting)
        except self._error as e:
            raise TransportError(f"serial read failed: {e}") from e

    def close(self) -> None:
        self.port.close()


class FaultInjectingLink(Link):
    """Wraps a link and damages the bytes it sends: drops, corrupts, or swallows everything.

    For robustness tests and the protocol benchmark: a seeded, reproducible noisy line.

    Parameters
    ----------
    inner : Link
    seed : int
        Seed of the fault pattern.
    drop_rate, corrupt_rate : float
        Per-byte probability that a byte sent to the device is lost / has one bit flipped.
    """

    def __init__(self, inner: Link, *, seed: int = 0, drop_rate: float = 0.0,
                 corrupt_rate: float = 0.0):
        self.inner = inner
        self.rng = random.Random(seed)
        self.drop_rate, self.corrupt_rate = drop_rate, corrupt_rate
        #: While True the device neither hears nor is heard: a device that stopped answering.
        self.mute = False
        self.dropped = self.corrupted = 0

    def write(self, data: bytes) -> None:
        if self.mute:
            return
        out = bytearray()
        for byte in data:
            r = self.rng.random()
            if r < self.drop_rate:
                self.dropped += 1
            elif r < self.drop_rate + self.corrupt_rate:
                self.corrupted += 1
                out.append(byte ^ (1 << self.rng.randrange(8)))
            else:
                out.append(byte)
        self.inner.write(bytes(out))

    def read(self, timeout: float) -> bytes:
        if self.mute:
            time.sleep(timeout)
            return b""
        return self.inner.read(timeout)

    def close(self) -> None:
        self.inner.close()
