"""``LoadReplay``: a checked LOAD_A / LOAD_B / LOAD_SEEDS payload, from the request buffer to the
core's memories as host-bus writes."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..hostbus import HostBusSignature
from ...spec import regmap as rm
from ...spec import wire
from ...spec.config import SPUConfig
from ...spec.wire import Command

__all__ = ["LoadReplay"]


class LoadReplay(wiring.Component):
    """Replays the values after a LOAD_* index header as bus writes, one per value.

    Values are little-endian in the buffer: A codes (``a_bytes``, two's complement, written
    sign-extended from ``a_bits``), B codes (``b_bytes``, from ``b_bits``) and seeds (four
    32-bit words per cell, written one per word address). A is written row-major from (row,
    col), B and seeds from the start index. The request has passed its checks: every address
    is in range.

    Parameters
    ----------
    config : SPUConfig
        N, the A and B widths and their wire bytes.
    max_request_payload : int
        Request buffer size in bytes.

    Members
    -------
    start : In(1)
        Strobe: replay the request now in the buffer (idle only).
    code : In(8)
        LOAD_A, LOAD_B or LOAD_SEEDS; with ``length``, ``first_index`` and ``second_index``
        held from ``start`` to ``done``.
    length : In(16)
        LEN of the request: the buffer holds bytes 0 .. length - 1.
    first_index, second_index : In(16)
        The index header: LOAD_A (row, col); LOAD_B, LOAD_SEEDS (chain = 0, start cell).
    done : Out(1)
        Strobe in the cycle the last write is issued.
    buffer : In(ReadPort.Signature(addr_width, 8))
        Read port of the request buffer (data one cycle after addr); ``addr`` is 0 when idle.
    bus : Out(HostBusSignature())
        Writes only; every member 0 when idle.
    """

    def __init__(self, config: SPUConfig, *, max_request_payload: int):
        self.config = config
        self.max_request_payload = max_request_payload
        super().__init__({
            "start": In(1), "code": In(8), "length": In(16),
            "first_index": In(16), "second_index": In(16), "done": Out(1),
            "buffer": In(ReadPort.Signature(addr_width=ceil_log2(max_request_payload),
                                            shape=8)),
            "bus": Out(HostBusSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        fmt = wire.WireFormat.for_config(cfg)
        n_cells, row_bits = cfg.n, cfg.log2_n
        code, request, buf_rd = self.code, self.bus, self.buffer
        replay_index = Signal(range(self.max_request_payload + 1))
        word = Signal(32)
        word_bytes = Signal(range(5))     # bytes per bus word of this command
        word_phase = Signal(range(5))
        write_offset = Signal(range(4 * n_cells + 1))   # in the b or seeds region
        # The request has passed its checks (row, col < N, row N + col + values <= N * N):
        # the row reaches N at most, after the last value.
        a_row = Signal(range(n_cells + 1))
        a_col = Signal(range(max(n_cells, 2)))
        write_value = Signal(64)
        with m.Switch(code):
            with m.Case(Command.LOAD_A):
                m.d.comb += write_value.eq(word[:cfg.a_bits].as_signed())
            with m.Case(Command.LOAD_B):
                m.d.comb += write_value.eq(word[:cfg.b_bits].as_signed())
            with m.Default():
                m.d.comb += write_value.eq(word)

        with m.FSM(name="replay"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [replay_index.eq(wire.LOAD_HEADER_BYTES), word_phase.eq(0),
                                 a_row.eq(self.first_index), a_col.eq(self.second_index)]
                    with m.Switch(code):
                        with m.Case(Command.LOAD_A):
                            m.d.sync += word_bytes.eq(fmt.a_bytes)
                        with m.Case(Command.LOAD_B):
                            m.d.sync += [word_bytes.eq(fmt.b_bytes),
                                         write_offset.eq(self.second_index)]
                        with m.Default():
                            m.d.sync += [word_bytes.eq(4),
                                         write_offset.eq(self.second_index << 2)]
                    m.next = "ADDRESS"

            with m.State("ADDRESS"):
                m.d.comb += buf_rd.addr.eq(replay_index)
                m.next = "DATA"

            with m.State("DATA"):
                # Little-endian: each byte read goes to the top of the word, which shifts down.
                shifted = Signal(32)
                m.d.comb += shifted.eq(Cat(word[8:], buf_rd.data))
                m.d.sync += replay_index.eq(replay_index + 1)
                with m.If(word_phase == word_bytes - 1):
                    # Align the completed word: ``word_bytes`` bytes sit at the top of 32 bits.
                    aligned = Signal(32)
                    with m.Switch(word_bytes):
                        for nbytes in (1, 2, 3, 4):
                            with m.Case(nbytes):
                                m.d.comb += aligned.eq(shifted >> (8 * (4 - nbytes)))
                    m.d.sync += [word.eq(aligned), word_phase.eq(0)]
                    m.next = "WRITE"
                with m.Else():
                    m.d.sync += [word.eq(shifted), word_phase.eq(word_phase + 1)]
                    m.next = "ADDRESS"

            with m.State("WRITE"):
                m.d.comb += [request.w_data.eq(write_value), request.w_stb.eq(1)]
                with m.If(code == Command.LOAD_A):
                    m.d.comb += request.addr.eq(rm.address(rm.REGION_A, 0)
                                                | (a_row[:row_bits] << row_bits)
                                                | a_col[:row_bits])
                    with m.If(a_col == n_cells - 1):
                        m.d.sync += [a_col.eq(0), a_row.eq(a_row + 1)]
                    with m.Else():
                        m.d.sync += a_col.eq(a_col + 1)
                with m.Else():
                    m.d.comb += request.addr.eq(
                        Mux(code == Command.LOAD_B, rm.address(rm.REGION_B, 0),
                            rm.address(rm.REGION_SEEDS, 0)) | write_offset)
                    m.d.sync += write_offset.eq(write_offset + 1)
                m.d.sync += word.eq(0)
                with m.If(replay_index == self.length):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "ADDRESS"
        return m
