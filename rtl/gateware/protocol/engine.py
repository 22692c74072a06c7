"""``ProtocolEngine`` and ``StreamSPU``: the protocol's components composed, and the SPU core
behind them."""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import crc, stream, wiring
from amaranth.lib.wiring import In, Out

from ..block_ram import BlockRAM
from ..hostbus import HostBusSignature
from ...spec import regmap as rm
from ...spec import wire
from ...spec.config import SPUConfig
from .checks import max_ok_length
from .executor import CommandExecutor
from .parameters import MAX_CHAINS
from .receiver import FrameReceiver
from .transmitter import FrameTransmitter

__all__ = ["ProtocolEngine", "StreamSPU", "DEFAULT_MAX_REQUEST_PAYLOAD"]

#: One iCE40 block RAM (4 kbit) of request buffer: 124 A codes of 2 bytes or 31 cells of seeds
#: per frame, plenty to keep a 3 Mbaud line busy.
DEFAULT_MAX_REQUEST_PAYLOAD = 512


def _engine_parameters(config, clock_hz, board, max_request_payload, idle_timeout):
    """The engine's checked parameters: ``(idle_timeout in cycles, INFO, INFO's bytes)``.

    Raises ``TypeError`` or ``ValueError`` (naming the value) for what the engine cannot build.
    """
    if not isinstance(config, SPUConfig):
        raise TypeError(f"config must be an SPUConfig, got {config!r}")
    if not wire.SET_PARAMS_BYTES <= max_request_payload <= wire.MAX_PAYLOAD:
        raise ValueError(f"max_request_payload={max_request_payload} outside "
                         f"[{wire.SET_PARAMS_BYTES}, {wire.MAX_PAYLOAD}]")
    if not isinstance(clock_hz, int) or not 0 <= clock_hz < 1 << 32:
        raise ValueError(f"clock_hz={clock_hz!r} must be an int in [0, 2**32)")
    if idle_timeout is None:
        idle_timeout = clock_hz // 20 if clock_hz else 1 << 20
    if idle_timeout < 1:
        raise ValueError(f"idle_timeout={idle_timeout} must be >= 1 cycle")
    info = wire.DeviceInfo(config, rm.GATEWARE_VERSION, MAX_CHAINS, max_request_payload, clock_hz,
                           board)
    return idle_timeout, info, wire.encode_info(info)     # encode_info checks the board name


class ProtocolEngine(wiring.Component):
    """Wire-protocol device: request frames in, response frames out, SPU core host bus.

    The device end of :mod:`thermospu.rtl.spec.wire` (docs/protocol.md), composed of a
    :class:`~.receiver.FrameReceiver` (bytes -> checked request in the request buffer), a
    :class:`~.executor.CommandExecutor` (request -> host-bus accesses -> response) and a
    :class:`~.transmitter.FrameTransmitter` (response -> bytes), with one CRC-32 unit that both
    directions share: a request is received whole before its response is sent, and no request
    byte is taken while a response is being sent. Exactly one response per request; every path
    ends back at the hunt for SYNC. One chain per job (``max_chains`` = 1 in INFO): the core has
    one set of cells.

    Parameters
    ----------
    config : SPUConfig
        The machine of the core it drives (INFO reports it; argument limits come from it).
    clock_hz : int
        The ``sync`` clock in Hz, reported by INFO (0 where there is none, e.g. simulation).
        Also sets the default idle timeout, 50 ms.
    board : str
        Board name INFO reports (ASCII, <= 255 characters).
    max_request_payload : int
        Request buffer size in bytes (>= the 26-byte SET_PARAMS payload, <= 65535).
    idle_timeout : int or None
        Cycles without a byte after which a frame begun is dropped (TRUNCATED). Default: 50 ms
        of ``clock_hz``, or 2**20 cycles when ``clock_hz`` is 0.

    The parameters are checked before the component exists (in ``__new__``): a refused engine
    raises ``TypeError`` / ``ValueError`` and leaves no unused elaboratable behind.

    Members
    -------
    rx_bytes : In(stream.Signature(8))
        Bytes from the host (e.g. a UART receiver). Transfer on ``valid & ready``.
    tx_bytes : Out(stream.Signature(8))
        Bytes to the host. ``valid`` never waits for ``ready``; ``payload`` holds until taken.
    bus : Out(HostBusSignature())
        The core's host bus (initiator side).
    protocol_error : Out(1)
        One-cycle strobe for every error response except BUSY and NOT_READY (e.g. an LED).
    hunting : Out(1)
        Waiting for the SYNC of the next frame, nothing left to do or send.
    receiving : Out(1)
        Inside a frame, waiting for its next byte from the host.
    """

    def __new__(cls, config, *, clock_hz: int = 0, board: str = "sim",
                max_request_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
                idle_timeout: int | None = None, src_loc_at: int = 0):
        # Refused before Elaboratable.__new__ makes a must-use object that would warn on exit.
        _engine_parameters(config, clock_hz, board, max_request_payload, idle_timeout)
        return super().__new__(cls, src_loc_at=src_loc_at + 1)

    def __init__(self, config: SPUConfig, *, clock_hz: int = 0, board: str = "sim",
                 max_request_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
                 idle_timeout: int | None = None, src_loc_at: int = 0):
        self.idle_timeout, self.info, self.info_bytes = _engine_parameters(
            config, clock_hz, board, max_request_payload, idle_timeout)
        self.config = config
        self.max_request_payload = max_request_payload
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature()),
            "protocol_error": Out(1),
            "hunting": Out(1),
            "receiving": Out(1),
        }, src_loc_at=src_loc_at)

    def elaborate(self, platform):
        m = Module()
        cap = self.max_request_payload
        m.submodules.receiver = receiver = FrameReceiver(
            self.config, max_request_payload=cap, idle_timeout=self.idle_timeout)
        m.submodules.executor = executor = CommandExecutor(
            self.config, max_request_payload=cap, info_bytes=self.info_bytes)
        m.submodules.transmitter = transmitter = FrameTransmitter(
            max_length=max_ok_length(self.config, len(self.info_bytes)))
        m.submodules.buffer = buffer = BlockRAM(shape=8, depth=cap)
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC32_ISO_HDLC(data_width=8).create()

        wiring.connect(m, wiring.flipped(self.rx_bytes), receiver.rx_bytes)
        wiring.connect(m, receiver.request, executor.request)
        wiring.connect(m, executor.response, transmitter.response)
        wiring.connect(m, executor.data, transmitter.data)
        wiring.connect(m, transmitter.tx_bytes, wiring.flipped(self.tx_bytes))
        wiring.connect(m, executor.bus, wiring.flipped(self.bus))
        wiring.connect(m, receiver.buffer, buffer.write_port())
        wiring.connect(m, executor.buffer, buffer.read_port())
        m.d.comb += [
            frame_crc.start.eq(receiver.crc_start | transmitter.crc_start),
            frame_crc.valid.eq(receiver.crc_valid | transmitter.crc_valid),
            frame_crc.data.eq(Mux(transmitter.crc_valid, transmitter.crc_data,
                                  receiver.crc_data)),
            receiver.crc_match.eq(frame_crc.match_detected),
            transmitter.crc_value.eq(frame_crc.crc),
            self.protocol_error.eq(transmitter.protocol_error),
            self.hunting.eq(receiver.hunting), self.receiving.eq(receiver.receiving),
        ]
        return m


class StreamSPU(wiring.Component):
    """Protocol engine and SPU core, byte streams outside: what the simulated transports run.

    Parameters
    ----------
    config : SPUConfig
    clock_hz : int
        The ``sync`` clock in Hz that INFO reports (0: none, e.g. simulation).
    board : str
        Name INFO reports (e.g. ``"sim:icarus"``).
    max_request_payload, idle_timeout
        Of the :class:`ProtocolEngine`.
    moment_lanes : int or None
        Second-moment lanes of the :class:`~thermospu.rtl.gateware.core.SPUCore` (None: P).

    Members
    -------
    rx_bytes : In(stream.Signature(8))
    tx_bytes : Out(stream.Signature(8))
    busy : Out(1)
        The core is running a job (the bridge keeps the clock going while it is).
    protocol_error, hunting, receiving : Out(1)
        Of the :class:`ProtocolEngine` (``protocol_error`` drives a board's error light).
    """

    def __init__(self, config: SPUConfig, *, clock_hz: int = 0, board: str = "sim",
                 max_request_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
                 idle_timeout: int | None = None, moment_lanes: int | None = None):
        self.config = config
        self.moment_lanes = moment_lanes
        self.engine_options = dict(clock_hz=clock_hz, board=board,
                                   max_request_payload=max_request_payload,
                                   idle_timeout=idle_timeout)
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "busy": Out(1),
            "protocol_error": Out(1),
            "hunting": Out(1),
            "receiving": Out(1),
        })

    def elaborate(self, platform):
        from ..core import SPUCore

        m = Module()
        m.submodules.engine = engine = ProtocolEngine(self.config, **self.engine_options)
        m.submodules.core = core = SPUCore(self.config, self.moment_lanes)
        wiring.connect(m, wiring.flipped(self.rx_bytes), engine.rx_bytes)
        wiring.connect(m, engine.tx_bytes, wiring.flipped(self.tx_bytes))
        wiring.connect(m, engine.bus, core.bus)
        m.d.comb += [self.busy.eq(core.busy), self.protocol_error.eq(engine.protocol_error),
                     self.hunting.eq(engine.hunting), self.receiving.eq(engine.receiving)]
        return m
