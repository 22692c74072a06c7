"""``FrameTransmitter``: a response header and its data bytes out as one frame, CRC appended."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...spec import wire
from ...spec.wire import Status

__all__ = ["FrameTransmitter", "ResponseLayout"]


class ResponseLayout(data.StructLayout):
    """The header of a response frame, as the command executor decides it.

    Fields
    ------
    code, seq : unsigned(8)
        COMMAND and SEQ of the request answered (the RESPONSE flag is added when sent).
    status : unsigned(8)
        :class:`~thermospu.rtl.spec.wire.Status`, the first payload byte.
    length : unsigned(16)
        LEN: 1 (the status) plus the data bytes that follow on the ``data`` stream.
    """

    def __init__(self):
        super().__init__({"code": 8, "seq": 8, "status": 8, "length": 16})


class FrameTransmitter(wiring.Component):
    """Sends SYNC, the header, ``length - 1`` data bytes and the CRC-32 of the frame.

    Parameters
    ----------
    max_length : int
        The largest LEN a response has (sizes the data byte counter; default 65535).

    Members
    -------
    response : In(stream.Signature(ResponseLayout()))
        The frame to send. Taken (``ready`` high) in the cycle its last CRC byte is sent: the
        transfer marks the end of the response, and the payload must hold until then.
    data : In(stream.Signature(8))
        The ``length - 1`` data bytes, in order; passed through to ``tx_bytes`` unregistered.
    tx_bytes : Out(stream.Signature(8))
        Bytes to the host. ``valid`` never waits for ``ready`` (it follows ``response.valid``
        and ``data.valid``); ``payload`` holds until taken.
    crc_start, crc_valid : Out(1)
        To the frame CRC unit (CRC-32/ISO-HDLC over VERSION .. last data byte, SYNC excluded).
    crc_data : Out(8)
        The byte the CRC unit takes when ``crc_valid`` is high.
    crc_value : In(32)
        The CRC unit's value, sent little-endian after the data.
    protocol_error : Out(1)
        One-cycle strobe as the header of an error response is sent (every error status but
        BUSY and NOT_READY: e.g. an LED).
    """

    def __init__(self, *, max_length: int = 0xFFFF):
        self.max_length = max_length
        super().__init__({
            "response": In(stream.Signature(ResponseLayout())),
            "data": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "crc_start": Out(1), "crc_valid": Out(1), "crc_data": Out(8), "crc_value": In(32),
            "protocol_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        tx, response = self.tx_bytes, self.response.payload
        header = Array([Const(wire.SYNC, 8), Const(wire.PROTOCOL_VERSION, 8),
                        response.code | wire.RESPONSE_FLAG, response.seq, response.length[:8],
                        response.length[8:], response.status])
        tx_index = Signal(range(len(header) + 1))
        data_left = Signal(range(self.max_length))     # data bytes still to send
        tx_fire = tx.valid & tx.ready
        m.d.comb += self.crc_data.eq(tx.payload)

        with m.FSM(name="transmitter"):
            with m.State("HEADER"):
                m.d.comb += [tx.valid.eq(self.response.valid), tx.payload.eq(header[tx_index]),
                             self.crc_start.eq(self.response.valid & (tx_index == 0)),
                             self.crc_valid.eq(tx_fire & (tx_index != 0))]
                with m.If(tx_fire):
                    m.d.sync += tx_index.eq(tx_index + 1)
                    with m.If(tx_index == len(header) - 1):
                        m.d.sync += [tx_index.eq(0), data_left.eq(response.length - 1)]
                        with m.If(response.status != Status.OK):
                            m.d.comb += self.protocol_error.eq(
                                (response.status != Status.BUSY)
                                & (response.status != Status.NOT_READY))
                        with m.If(response.length == 1):
                            m.next = "CRC"
                        with m.Else():
                            m.next = "DATA"

            with m.State("DATA"):
                m.d.comb += [tx.valid.eq(self.data.valid), tx.payload.eq(self.data.payload),
                             self.data.ready.eq(tx.ready), self.crc_valid.eq(tx_fire)]
                with m.If(tx_fire):
                    m.d.sync += data_left.eq(data_left - 1)
                    with m.If(data_left == 1):
                        m.next = "CRC"

            with m.State("CRC"):
                # The CRC unit took the last byte in the cycle it was sent; its value is ready
                # one cycle later, when this state begins.
                m.d.comb += [tx.valid.eq(1),
                             tx.payload.eq(self.crc_value.word_select(tx_index[:2], 8))]
                with m.If(tx_fire):
                    m.d.sync += tx_index.eq(tx_index + 1)
                    with m.If(tx_index == wire.CRC_BYTES - 1):
                        m.d.comb += self.response.ready.eq(1)
                        m.d.sync += tx_index.eq(0)
                        m.next = "HEADER"
        return m
