"""``ResponseReader``: the data bytes of an OK response (INFO, STATUS, READ_MEAN, READ_MOMENTS),
from the INFO ROM and the core's registers and accumulators over the host bus."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hostbus import HostBusSignature
from ...spec import regmap as rm
from ...spec import wire
from ...spec.config import SPUConfig
from ...spec.wire import Command

__all__ = ["ResponseReader"]


class ResponseReader(wiring.Component):
    """Streams the data of a response, item by item: each item a ROM byte or a bus word.

    Items are sent little-endian, as many bytes of each as the wire format gives: INFO the
    bytes of ``info_bytes``; STATUS the job state (1 byte), STEPS and COUNT (8 bytes each);
    READ_MEAN SATURATIONS (4 bytes) then sum_y of ``count`` cells from ``start``
    (``sum_y_bytes`` each, two's complement); READ_MOMENTS sum_yy of ``count`` upper-triangle
    entries from linear index ``start`` of the n_active x n_active triangle, row by row
    (``sum_yy_bytes`` each). The request has passed its checks: every address is in range.

    Parameters
    ----------
    config : SPUConfig
        N and the wire widths of the sums.
    info_bytes : bytes
        INFO's data, held in a ROM (block RAM where there is one).

    Members
    -------
    start : In(1)
        Strobe: send the data of the OK response to ``code`` (idle only; a command without
        data sends nothing).
    code : In(8)
        The command answered; with ``args``, ``job_n`` and ``job_state`` held until the last
        data byte is taken.
    args : In(64)
        The request's first 8 payload bytes: READ_MEAN (chain, start u16, count u16),
        READ_MOMENTS (chain, start u32, count u16), little-endian.
    job_n : In(range(N + 1))
        n_active of the job last started (the triangle's size).
    job_state : In(8)
        :class:`~thermospu.rtl.spec.wire.JobState` for STATUS.
    data : Out(stream.Signature(8))
        The data bytes. ``valid`` never waits for ``ready``; ``payload`` holds until taken.
    bus : Out(HostBusSignature())
        Reads only; every member 0 when idle.
    """

    def __init__(self, config: SPUConfig, *, info_bytes: bytes):
        self.config = config
        self.info_bytes = info_bytes
        super().__init__({
            "start": In(1), "code": In(8), "args": In(64),
            "job_n": In(range(config.n + 1)), "job_state": In(8),
            "data": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        fmt = wire.WireFormat.for_config(cfg)
        n_cells, row_bits = cfg.n, cfg.log2_n
        cell_bits = n_cells.bit_length()      # holds 0 ... N
        code, request, job_n = self.code, self.bus, self.job_n
        second_index = self.args[16:32]
        read_mean_count = self.args[32:48]
        moments_start = self.args[16:48]
        moments_count = self.args[48:64]
        m.submodules.info_rom = info_rom = Memory(shape=8, depth=len(self.info_bytes),
                                                  init=self.info_bytes)
        info_rd = info_rom.read_port()
        moment_bits = cfg.n_moments.bit_length()     # holds 0 ... N (N + 1) / 2
        max_items = max(len(self.info_bytes), 3, n_cells + 1, cfg.n_moments)
        data_word = Signal(64)         # response item being sent
        data_index = Signal(range(max_items + 1))     # items (INFO bytes, READ_* values) sent
        items_end = Signal(range(max_items + 1))      # READ_*: data_index after the last item
        data_bytes_left = Signal(range(9))
        data_byte = Signal(range(8))   # byte of data_word being sent
        mean_cell = Signal(cell_bits)  # READ_MEAN: cell of the next sum_y
        tri_i = Signal(range(n_cells + 1))
        tri_j = Signal(range(n_cells + 1))
        tri_last = Signal(range(n_cells + 1))         # READ_MOMENTS: job_n - 1, the last column
        tri_rem = Signal(range(cfg.n_moments + 1))
        row_length = Signal(range(n_cells + 1))       # TRIANGLE_SEARCH: job_n - tri_i
        # The command answered, decoded once at ``start`` into registers: the item fetch's
        # enables do not wait for an 8-bit comparison of ``code``.
        sends = {command: Signal(name=f"sends_{command.name.lower()}")
                 for command in (Command.INFO, Command.STATUS, Command.READ_MEAN,
                                 Command.READ_MOMENTS)}

        def reg_address(reg):
            return rm.address(rm.REGION_REGS, reg)

        with m.FSM(name="reader"):
            with m.State("IDLE"):
                with m.If(self.start):
                    # The request has passed its checks: start + count <= N (READ_MEAN) or
                    # <= N (N + 1) / 2 (READ_MOMENTS), so the counts and starts fit these widths.
                    # Every per-item bound and address is set up here, once per request, so
                    # no argument arithmetic sits between the request and the bus address.
                    m.d.sync += [data_index.eq(0), data_bytes_left.eq(0), data_byte.eq(0),
                                 mean_cell.eq(second_index[:cell_bits]),
                                 items_end.eq(Mux(code == Command.READ_MEAN,
                                                  read_mean_count[:cell_bits] + 1,
                                                  moments_count[:moment_bits])),
                                 tri_i.eq(0), tri_rem.eq(moments_start[:moment_bits]),
                                 tri_last.eq(job_n - 1), row_length.eq(job_n)]
                    m.d.sync += [sends[command].eq(code == command) for command in sends]
                    with m.If(code == Command.READ_MOMENTS):
                        m.next = "TRIANGLE_SEARCH"
                    with m.Else():
                        m.next = "NEXT"

            # --- READ_MOMENTS: linear upper-triangle index -> (i, j) ---------------------------
            with m.State("TRIANGLE_SEARCH"):
                rem_after_row = Signal(signed(moment_bits + 1))   # negative: (i, j) in row tri_i
                m.d.comb += rem_after_row.eq(tri_rem - row_length)
                with m.If(~rem_after_row[-1]):
                    m.d.sync += [tri_rem.eq(rem_after_row), tri_i.eq(tri_i + 1),
                                 row_length.eq(row_length - 1)]
                with m.Else():
                    m.d.sync += tri_j.eq(tri_i + tri_rem)
                    m.next = "NEXT"

            with m.State("NEXT"):
                # Fetch the next item into data_word / data_bytes_left.
                with m.If(sends[Command.INFO]):
                    with m.If(data_index == len(self.info_bytes)):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += info_rd.addr.eq(data_index)
                        m.d.sync += data_bytes_left.eq(1)
                        m.next = "INFO_BYTE"
                with m.Elif(sends[Command.STATUS]):
                    with m.If(data_index == 0):
                        m.d.sync += [data_word.eq(self.job_state), data_bytes_left.eq(1)]
                        m.next = "SEND"
                    with m.Elif(data_index == 3):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += [request.r_stb.eq(1), request.addr.eq(Mux(
                            data_index == 1, reg_address(rm.REG_STEPS),
                            reg_address(rm.REG_COUNT)))]
                        m.d.sync += data_bytes_left.eq(8)
                        m.next = "READ"
                with m.Elif(sends[Command.READ_MEAN]):
                    with m.If(data_index == 0):
                        m.d.comb += [request.r_stb.eq(1),
                                     request.addr.eq(reg_address(rm.REG_SATURATIONS))]
                        m.d.sync += data_bytes_left.eq(wire.READ_MEAN_HEADER_BYTES)
                        m.next = "READ"
                    with m.Elif(data_index == items_end):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += [request.r_stb.eq(1), request.addr.eq(
                            rm.address(rm.REGION_SUM_Y, 0) | mean_cell)]
                        m.d.sync += [data_bytes_left.eq(fmt.sum_y_bytes),
                                     mean_cell.eq(mean_cell + 1)]
                        m.next = "READ"
                with m.Elif(sends[Command.READ_MOMENTS]):
                    with m.If(data_index == items_end):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += [request.r_stb.eq(1), request.addr.eq(
                            rm.address(rm.REGION_SUM_YY, 0)
                            | (tri_i[:row_bits] << row_bits) | tri_j[:row_bits])]
                        with m.If(tri_j == tri_last):
                            m.d.sync += [tri_i.eq(tri_i + 1), tri_j.eq(tri_i + 1)]
                        with m.Else():
                            m.d.sync += tri_j.eq(tri_j + 1)
                        m.d.sync += data_bytes_left.eq(fmt.sum_yy_bytes)
                        m.next = "READ"
                with m.Else():
                    m.next = "IDLE"

            with m.State("INFO_BYTE"):
                m.d.sync += data_word.eq(info_rd.data)
                m.next = "SEND"

            with m.State("READ"):
                with m.If(request.r_ack):
                    m.d.sync += data_word.eq(request.r_data)
                    m.next = "SEND"

            with m.State("SEND"):
                m.d.comb += [self.data.valid.eq(1),
                             self.data.payload.eq(data_word.word_select(data_byte, 8))]
                with m.If(self.data.valid & self.data.ready):
                    m.d.sync += [data_byte.eq(data_byte + 1),
                                 data_bytes_left.eq(data_bytes_left - 1)]
                    with m.If(data_bytes_left == 1):
                        m.d.sync += [data_index.eq(data_index + 1), data_byte.eq(0)]
                        m.next = "NEXT"
        return m
