"""``FrameReceiver``: request frames from a byte stream into the request buffer, checked.

The receiving end of :mod:`thermospu.rtl.spec.wire` (docs/protocol.md): it hunts for SYNC,
takes the header, checks VERSION and LEN (against the buffer, from the header alone), writes the
payload into the request buffer, checks the CRC and hands the request on as one stream transfer,
with its verdict. A frame that stops arriving is dropped after ``idle_timeout`` cycles without a
byte (TRUNCATED); the receiver then hunts for the next SYNC once the request has been taken.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..bounds import below, within
from ...spec import wire
from ...spec.config import SPUConfig
from ...spec.wire import Command, Status

__all__ = ["FrameReceiver", "RequestLayout", "ARG_BYTES"]

#: Payload bytes kept in registers for argument checks (indices and counts of LOAD_*, READ_*);
#: SET_PARAMS is checked and written field by field from the request buffer instead.
ARG_BYTES = 8
#: The widest value a LOAD_* payload carries, in bytes (a cell's seeds).
_MAX_VALUE_BYTES = 16


class RequestLayout(data.StructLayout):
    """A received request: its header, its verdict and what the checks need of its payload.

    Parameters
    ----------
    max_request_payload : int
        Request buffer size in bytes (bounds ``values``).

    Fields
    ------
    status : unsigned(8)
        :class:`~thermospu.rtl.spec.wire.Status`: OK for a well-formed frame, else the
        receiver's verdict (BAD_VERSION, FRAME_TOO_LONG, TRUNCATED, BAD_CRC).
    code, seq : unsigned(8)
        COMMAND and SEQ of the header (0 where the frame ended before them).
    length : unsigned(16)
        LEN of the header: payload bytes, all of them in the request buffer when OK.
    args : unsigned(64)
        The first :data:`ARG_BYTES` payload bytes, little-endian (0 past the payload's end).
    values : range(max_request_payload + 1)
        LOAD_*: whole values after the 4-byte index header (A and B codes, cells of seeds).
    value_phase : range(17)
        LOAD_*: bytes of a value begun but not completed (0 when the payload ends on a value).
    """

    def __init__(self, max_request_payload: int):
        super().__init__({
            "status": 8, "code": 8, "seq": 8, "length": 16, "args": 8 * ARG_BYTES,
            "values": range(max_request_payload + 1), "value_phase": range(_MAX_VALUE_BYTES + 1),
        })


class FrameReceiver(wiring.Component):
    """Request frames in, one checked request out per frame (or per frame begun and dropped).

    Parameters
    ----------
    config : SPUConfig
        Gives the byte widths of LOAD_A and LOAD_B values (counted into ``values``).
    max_request_payload : int
        Request buffer size in bytes; a larger LEN is refused as FRAME_TOO_LONG.
    idle_timeout : int
        Cycles without a byte after which a frame begun is dropped as TRUNCATED (>= 1).

    Members
    -------
    rx_bytes : In(stream.Signature(8))
        Bytes from the host. ``ready`` depends only on the state: high while hunting or inside
        a frame, low while a request is held.
    request : Out(stream.Signature(RequestLayout(max_request_payload)))
        The request, held (``valid`` high, payload stable) until taken. The receiver takes no
        byte while it holds one: take it once the response has been sent.
    buffer : In(WritePort.Signature(addr_width, 8))
        Write port of the request buffer: payload byte i at address i.
    crc_start, crc_valid : Out(1)
        To the frame CRC unit (CRC-32/ISO-HDLC over VERSION .. last CRC byte, SYNC excluded).
    crc_data : Out(8)
        The byte the CRC unit takes when ``crc_valid`` is high.
    crc_match : In(1)
        The CRC unit holds the residue: data and CRC agree.
    hunting : Out(1)
        Waiting for the SYNC of the next frame.
    receiving : Out(1)
        Inside a frame, waiting for its next byte from the host.
    """

    def __init__(self, config: SPUConfig, *, max_request_payload: int, idle_timeout: int):
        self.format = wire.WireFormat.for_config(config)
        self.max_request_payload = max_request_payload
        self.idle_timeout = idle_timeout
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "request": Out(stream.Signature(RequestLayout(max_request_payload))),
            "buffer": In(WritePort.Signature(addr_width=ceil_log2(max_request_payload), shape=8)),
            "crc_start": Out(1), "crc_valid": Out(1), "crc_data": Out(8), "crc_match": In(1),
            "hunting": Out(1), "receiving": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx, fields, fmt = self.rx_bytes, self.request.payload, self.format
        cap = self.max_request_payload
        version = Signal(8)
        header_index = Signal(range(wire.HEADER_BYTES))
        payload_index = Signal(range(cap + 1))
        payload_last = Signal(range(cap))    # LEN - 1: payload_index of the last payload byte
        crc_index = Signal(range(wire.CRC_BYTES))
        idle = Signal(range(self.idle_timeout + 1))
        value_width = Signal(range(_MAX_VALUE_BYTES + 1))     # bytes per LOAD_* value
        m.d.comb += [self.crc_data.eq(rx.payload), self.buffer.data.eq(rx.payload),
                     self.buffer.addr.eq(payload_index)]

        def verdict(status):
            m.d.sync += fields.status.eq(status)
            m.next = "HOLD"

        def wait_for_byte():
            m.d.sync += idle.eq(idle + 1)
            with m.If(idle == self.idle_timeout - 1):
                verdict(Status.TRUNCATED)

        with m.FSM(name="receiver"):
            with m.State("HUNT"):
                m.d.comb += [rx.ready.eq(1), self.hunting.eq(1)]
                m.d.sync += [header_index.eq(1), idle.eq(0), fields.code.eq(0), fields.seq.eq(0)]
                with m.If(rx.valid & (rx.payload == wire.SYNC)):
                    m.d.comb += self.crc_start.eq(1)
                    m.next = "HEADER"

            with m.State("HEADER"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), self.crc_valid.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), header_index.eq(header_index + 1)]
                    with m.Switch(header_index):
                        with m.Case(1):
                            m.d.sync += version.eq(rx.payload)
                        with m.Case(2):
                            m.d.sync += fields.code.eq(rx.payload)
                        with m.Case(3):
                            m.d.sync += fields.seq.eq(rx.payload)
                        with m.Case(4):
                            m.d.sync += fields.length[:8].eq(rx.payload)
                        with m.Case(5):
                            m.d.sync += fields.length[8:].eq(rx.payload)
                            m.next = "HEADER_CHECK"
                with m.Else():
                    wait_for_byte()

            with m.State("HEADER_CHECK"):
                m.d.sync += [payload_index.eq(0), crc_index.eq(0), fields.values.eq(0),
                             fields.value_phase.eq(0), fields.args.eq(0),
                             payload_last.eq(fields.length - 1)]
                with m.Switch(fields.code):
                    with m.Case(Command.LOAD_A):
                        m.d.sync += value_width.eq(fmt.a_bytes)
                    with m.Case(Command.LOAD_B):
                        m.d.sync += value_width.eq(fmt.b_bytes)
                    with m.Default():
                        m.d.sync += value_width.eq(wire.SEEDS_BYTES_PER_CELL)
                with m.If(version != wire.PROTOCOL_VERSION):
                    verdict(Status.BAD_VERSION)
                with m.Elif(~within(fields.length, 0, cap)):
                    verdict(Status.FRAME_TOO_LONG)
                with m.Elif(fields.length == 0):
                    m.next = "CRC"
                with m.Else():
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), self.crc_valid.eq(rx.valid),
                             self.buffer.en.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), payload_index.eq(payload_index + 1)]
                    with m.If(below(payload_index, ARG_BYTES)):
                        m.d.sync += fields.args.word_select(payload_index[:3], 8).eq(rx.payload)
                    with m.If(~below(payload_index, wire.LOAD_HEADER_BYTES)):
                        with m.If(fields.value_phase == value_width - 1):
                            m.d.sync += [fields.value_phase.eq(0),
                                         fields.values.eq(fields.values + 1)]
                        with m.Else():
                            m.d.sync += fields.value_phase.eq(fields.value_phase + 1)
                    with m.If(payload_index == payload_last):
                        m.next = "CRC"
                with m.Else():
                    wait_for_byte()

            with m.State("CRC"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), self.crc_valid.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), crc_index.eq(crc_index + 1)]
                    with m.If(crc_index == wire.CRC_BYTES - 1):
                        m.next = "CRC_CHECK"
                with m.Else():
                    wait_for_byte()

            with m.State("CRC_CHECK"):
                # The CRC unit has taken the last CRC byte; over data + CRC it must hold the
                # residue.
                verdict(Mux(self.crc_match, Status.OK, Status.BAD_CRC))

            with m.State("HOLD"):
                m.d.comb += self.request.valid.eq(1)
                with m.If(self.request.ready):
                    m.next = "HUNT"
        return m
