"""``CommandExecutor``: a received request -> host-bus accesses of the core -> one response.

Why nothing the host sends can corrupt a job: a request reaches the executor only once its
CRC has been checked, and while the core is busy every command that writes or reads the core's
memories or job registers is refused with BUSY before it touches the bus.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..hostbus import HostBusSignature
from ...spec import regmap as rm
from ...spec.config import SPUConfig
from ...spec.wire import Command, JobState, Status
from .checks import RequestChecks, max_ok_length
from .load_replay import LoadReplay
from .parameters import MAX_CHAINS, ParameterWriter
from .receiver import RequestLayout
from .response_reader import ResponseReader
from .transmitter import ResponseLayout

__all__ = ["CommandExecutor", "write_bits"]


def _reg_address(reg):
    return rm.address(rm.REGION_REGS, reg)


def _read_register(m, request, reg):
    """Issue a read of core register ``reg`` on ``request`` (in this cycle)."""
    m.d.comb += [request.addr.eq(_reg_address(reg)), request.r_stb.eq(1)]


def _write_control(m, request, command):
    """Issue a CONTROL write of ``command`` on ``request`` (in this cycle)."""
    m.d.comb += [request.addr.eq(_reg_address(rm.REG_CONTROL)), request.w_data.eq(command),
                 request.w_stb.eq(1)]


def write_bits(config: SPUConfig, value_bits: int) -> int:
    """Bits of write data the engine registers: every word it writes is a two's complement
    value of this many bits, sign-extended to the bus's 64 (A and B codes sign-extended from
    a_bits / b_bits, 32-bit seed words and SET_PARAMS values of up to ``value_bits`` bits
    zero-extended, CONTROL commands), so the bus's upper bits repeat the top one."""
    return 1 + max(32, config.a_bits, config.b_bits, value_bits)


def _share_bus(m, initiators, bus, data_bits):
    """Drive ``bus`` from ``initiators`` that take turns: one is active at a time and the others
    drive 0, so their requests are ORed, then registered (write data as ``data_bits``,
    sign-extended); every one sees the acknowledges."""
    for name in ("addr", "w_data", "w_stb", "r_stb"):
        combined = 0
        for initiator in initiators:
            combined = combined | getattr(initiator, name)
        if name == "w_data":
            w_data = Signal(data_bits)
            m.d.sync += w_data.eq(combined[:data_bits])
            m.d.comb += bus.w_data.eq(w_data.as_signed())
        else:
            m.d.sync += getattr(bus, name).eq(combined)
    for initiator in initiators:
        m.d.comb += [initiator.r_data.eq(bus.r_data), initiator.r_ack.eq(bus.r_ack)]


class CommandExecutor(wiring.Component):
    """Checks each request, carries it out on the core and decides its response.

    Per request: read the core's STATUS, evaluate the checks (:class:`RequestChecks`), answer
    the first that fails, else carry the command out: LOAD_* by :class:`LoadReplay`, SET_PARAMS
    by :class:`ParameterWriter`, RUN (n_active (n_active + 1) / 2 by adding, then START),
    ABORT / RESET (ABORT, wait until the core has stopped: one Euler step at most; RESET then
    CLEAR), and the data of INFO, STATUS and READ_* by :class:`ResponseReader`. The only waits
    are for the core's fixed-latency read acknowledge, for the core to stop and for the host to
    take the response.

    Parameters
    ----------
    config : SPUConfig
        The core's machine.
    max_request_payload : int
        Request buffer size in bytes.
    info_bytes : bytes
        INFO's data.

    Members
    -------
    request : In(stream.Signature(RequestLayout(max_request_payload)))
        The received request, with the receiver's verdict. Taken the cycle after its response
        has been sent.
    response : Out(stream.Signature(ResponseLayout()))
        The response header; held until the transmitter has sent the whole frame.
    data : Out(stream.Signature(8))
        The response's data bytes (``response.length - 1`` of them).
    buffer : In(ReadPort.Signature(addr_width, 8))
        Read port of the request buffer.
    bus : Out(HostBusSignature())
        The core's host bus (initiator side). Requests are registered before they leave: the
        core's decode starts from flip-flops, not from the command decode. Every read waits for
        its acknowledge and requests keep their order, so the extra cycle is invisible.
    """

    def __init__(self, config: SPUConfig, *, max_request_payload: int, info_bytes: bytes):
        self.config = config
        self.max_request_payload = max_request_payload
        self.info_bytes = info_bytes
        super().__init__({
            "request": In(stream.Signature(RequestLayout(max_request_payload))),
            "response": Out(stream.Signature(ResponseLayout())),
            "data": Out(stream.Signature(8)),
            "buffer": In(ReadPort.Signature(addr_width=ceil_log2(max_request_payload),
                                            shape=8)),
            "bus": Out(HostBusSignature()),
        })

    def _helpers(self, m):
        """The checks and the three helpers, added to ``m``; the helpers and the executor's own
        bus requests share the bus, the LOAD and SET_PARAMS helpers the buffer's read port.
        Returns ``(checks, replay, parameters, reader, request)``, ``request`` the executor's
        own bus requests."""
        cfg, cap = self.config, self.max_request_payload
        m.submodules.checks = checks = RequestChecks(cfg, max_request_payload=cap,
                                                     info_bytes=len(self.info_bytes))
        m.submodules.replay = replay = LoadReplay(cfg, max_request_payload=cap)
        m.submodules.parameters = parameters = ParameterWriter(cfg, max_request_payload=cap,
                                                               max_chains=MAX_CHAINS)
        m.submodules.reader = reader = ResponseReader(cfg, info_bytes=self.info_bytes)
        wiring.connect(m, reader.data, wiring.flipped(self.data))

        request = HostBusSignature().create(path=("request",))
        _share_bus(m, [request, replay.bus, parameters.bus, reader.bus], self.bus,
                   write_bits(cfg, parameters.value_bits))
        m.d.comb += [self.buffer.addr.eq(replay.buffer.addr | parameters.buffer.addr),
                     replay.buffer.data.eq(self.buffer.data),
                     parameters.buffer.data.eq(self.buffer.data)]
        return checks, replay, parameters, reader, request

    def _stop_states(self, m, request, params_valid):
        """The executor's states of ABORT and RESET: write ABORT, poll STATUS until the core has
        stopped (one Euler step at most), for RESET write CLEAR (and forget the parameters),
        then respond."""
        bus, fields = self.bus, self.request.payload
        with m.State("STOP_ABORT"):
            _write_control(m, request, rm.CONTROL_ABORT)
            m.next = "STOP_POLL"

        with m.State("STOP_POLL"):
            _read_register(m, request, rm.REG_STATUS)
            m.next = "STOP_WAIT"

        with m.State("STOP_WAIT"):
            with m.If(bus.r_ack):
                with m.If((bus.r_data & rm.STATUS_BUSY).any()):
                    m.next = "STOP_POLL"
                with m.Elif(fields.code == Command.RESET):
                    m.next = "CLEAR"
                with m.Else():
                    m.next = "RESPOND"

        with m.State("CLEAR"):
            _write_control(m, request, rm.CONTROL_CLEAR)
            m.d.sync += params_valid.eq(0)
            m.next = "RESPOND"

    def elaborate(self, platform):
        m = Module()
        cfg, bus = self.config, self.bus
        fields = self.request.payload
        checks, replay, parameters, reader, request = self._helpers(m)

        # --- state kept between frames -------------------------------------------------------
        params_valid = Signal()
        job_n = Signal(range(cfg.n + 1))
        job_moments = Signal()
        job_triangle = Signal(range(cfg.n_moments + 1))
        job_triangle_next = Signal(range(cfg.n_moments + 1))
        triangle_row = Signal(range(cfg.n + 1))
        core_busy = Signal()
        core_done = Signal()
        core_aborted = Signal()
        status = Signal(8)
        response_length = Signal(range(max_ok_length(cfg, len(self.info_bytes)) + 1))
        m.d.comb += [
            checks.request.eq(fields), checks.core_done.eq(core_done),
            checks.core_aborted.eq(core_aborted), checks.params_valid.eq(params_valid),
            checks.job_n.eq(job_n), checks.job_moments.eq(job_moments),
            checks.job_triangle.eq(job_triangle),
            replay.code.eq(fields.code), replay.length.eq(fields.length),
            replay.first_index.eq(fields.args[:16]), replay.second_index.eq(fields.args[16:32]),
            reader.code.eq(fields.code), reader.args.eq(fields.args), reader.job_n.eq(job_n),
            reader.job_state.eq(Mux(core_busy, JobState.RUNNING,
                                    Mux(core_done, Mux(core_aborted, JobState.ABORTED,
                                                       JobState.DONE), JobState.IDLE))),
            self.response.payload.code.eq(fields.code), self.response.payload.seq.eq(fields.seq),
            self.response.payload.status.eq(status),
            self.response.payload.length.eq(response_length),
        ]

        # Start strobes registered (a helper starts the cycle after CHECK): off the decode path.
        m.d.sync += [replay.start.eq(0), parameters.start.eq(0), reader.start.eq(0)]
        # The helpers' end strobes registered too (seen a cycle after them): the executor's state
        # does not wait for the helpers' last decisions.
        replay_done, parameters_done, parameters_ok = Signal(), Signal(), Signal()
        m.d.sync += [replay_done.eq(replay.done), parameters_done.eq(parameters.done),
                     parameters_ok.eq(parameters.ok)]

        def respond(error_status):
            m.d.sync += [status.eq(error_status), response_length.eq(1)]
            m.next = "RESPOND"

        # Each bus request comes from a state of its own, so the state alone drives the shared
        # bus's registers, not the checks' or the core's decisions (on the iCE40 the CHECK
        # state's decisions in front of them were a 28 ns path, placement seeds 1 and 2).
        with m.FSM(name="executor"):
            with m.State("IDLE"):
                with m.If(self.request.valid):
                    with m.If(fields.status != Status.OK):
                        respond(fields.status)
                    with m.Else():
                        m.next = "ASK_CORE_STATUS"

            with m.State("ASK_CORE_STATUS"):
                _read_register(m, request, rm.REG_STATUS)
                m.next = "READ_CORE_STATUS"

            with m.State("READ_CORE_STATUS"):
                with m.If(bus.r_ack):
                    m.d.sync += [core_busy.eq((bus.r_data & rm.STATUS_BUSY).any()),
                                 core_done.eq((bus.r_data & rm.STATUS_DONE).any()),
                                 core_aborted.eq((bus.r_data & rm.STATUS_ABORTED).any())]
                    m.next = "EVALUATE"

            with m.State("EVALUATE"):
                m.next = "CHECK"          # the checks register their verdicts meanwhile

            with m.State("CHECK"):
                m.d.sync += [job_triangle_next.eq(0), triangle_row.eq(parameters.n_active)]
                with m.If(~checks.known):
                    respond(Status.UNKNOWN_COMMAND)
                with m.Elif(~checks.length_ok):
                    respond(Status.BAD_LENGTH)
                with m.Elif(checks.needs_idle & core_busy):
                    respond(Status.BUSY)
                with m.Elif(~checks.argument_ok):
                    respond(Status.BAD_ARGUMENT)
                with m.Elif(~checks.ready_ok):
                    respond(Status.NOT_READY)
                with m.Else():
                    m.d.sync += [status.eq(Status.OK), response_length.eq(checks.ok_length)]
                    with m.Switch(fields.code):
                        with m.Case(Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS):
                            m.d.sync += replay.start.eq(1)
                            m.next = "LOAD"
                        with m.Case(Command.SET_PARAMS):
                            m.d.sync += parameters.start.eq(1)
                            m.next = "SET_PARAMS"
                        with m.Case(Command.RUN):
                            m.next = "RUN_TRIANGLE"
                        with m.Case(Command.ABORT, Command.RESET):
                            m.next = "STOP_ABORT"
                        with m.Default():
                            m.d.sync += reader.start.eq(1)
                            m.next = "RESPOND"

            with m.State("LOAD"):
                with m.If(replay_done):
                    m.next = "RESPOND"

            with m.State("SET_PARAMS"):
                with m.If(parameters_done & parameters_ok):
                    m.d.sync += params_valid.eq(1)
                    m.next = "RESPOND"
                with m.Elif(parameters_done):
                    respond(Status.BAD_ARGUMENT)

            with m.State("RUN_TRIANGLE"):
                with m.If(triangle_row != 0):
                    m.d.sync += [job_triangle_next.eq(job_triangle_next + triangle_row),
                                 triangle_row.eq(triangle_row - 1)]
                with m.Else():
                    m.next = "RUN_START"

            with m.State("RUN_START"):
                _write_control(m, request, rm.CONTROL_START)
                m.d.sync += [job_n.eq(parameters.n_active), job_moments.eq(parameters.moments),
                             job_triangle.eq(job_triangle_next)]
                m.next = "RESPOND"

            self._stop_states(m, request, params_valid)

            with m.State("RESPOND"):
                m.d.comb += self.response.valid.eq(1)
                with m.If(self.response.ready):
                    m.next = "RELEASE"

            with m.State("RELEASE"):
                # The request is taken the cycle after its response's last byte was sent: the
                # receiver's state does not wait for the transmitter's last decision.
                m.d.comb += self.request.ready.eq(1)
                m.next = "IDLE"
        return m
