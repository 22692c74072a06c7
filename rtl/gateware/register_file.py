"""``RegisterFile``: the core's job registers, control and status, and the host-write decode.

Every host write is checked here against :mod:`thermospu.rtl.spec.regmap`'s rules (busy, address
range, value range); a write the rules accept either lands in a job register or is passed on as a
one-cycle strobe to the memory it addresses (the :class:`~.datapath.Datapath` holds them). A
refused write sets a sticky STATUS error flag instead.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec.config import SPUConfig
from .bounds import below, within

__all__ = ["RegisterFile", "job_layout", "JOB_DEFAULTS", "status_layout", "error_layout",
           "error_flag"]

#: Job register values after reset; the others reset to 0.
JOB_DEFAULTS = {"samples": 1, "thin": 1}


def job_layout(config: SPUConfig) -> data.StructLayout:
    """The job registers as one struct: each JobParams field of ``regmap.JOB_REGISTERS``,
    unsigned and as wide as the largest value its register accepts
    (:func:`~thermospu.rtl.spec.regmap.job_register_range`)."""
    return data.StructLayout({
        field: unsigned(max(1, rm.job_register_range(field, config)[1].bit_length()))
        for field in rm.JOB_REGISTERS.values()
    })


def _layout_of(fields) -> data.StructLayout:
    members = {}
    for index, (name, shape) in enumerate(fields):
        key = f"reserved{index}" if name == "reserved" else name
        members[key] = _layout_of(shape) if isinstance(shape, tuple) else unsigned(shape)
    return data.StructLayout(members)


def status_layout() -> data.StructLayout:
    """The STATUS word (16 bits) as the struct :data:`regmap.STATUS_FIELDS` describes."""
    return _layout_of(rm.STATUS_FIELDS)


def error_layout() -> data.StructLayout:
    """STATUS's sticky error flags (8 bits: four flags, four reserved bits that stay 0)."""
    return _layout_of(rm.STATUS_ERROR_FIELDS)


def error_flag(name: str) -> data.Const:
    """The error flags with only ``name`` set (a constant of :func:`error_layout`). Sources
    assign whole flag words, so every bit of an error signal has a driver in every cycle."""
    return error_layout().const({name: 1})


class RegisterFile(wiring.Component):
    """Job registers, CONTROL, STATUS and the result counters of the core.

    Host writes take effect in the cycle ``w_stb`` is high. A write the map refuses raises an
    error flag, which reaches ``status.errors`` from a register one cycle later (so the decode of
    an access is not on the path into STATUS); the next access already sees it.

    Parameters
    ----------
    config : SPUConfig
        The machine: sets the job registers' ranges and the memories' address bounds.
    max_cycles : int
        A bound on the clock cycles of one job; sizes the CYCLES counter.

    Members
    -------
    addr : In(32)
        Host word address (``regmap``: region in bits 31..24, offset in bits 23..0).
    w_data : In(64)
        Host write data; signed quantities sign-extended to 64 bits.
    w_stb : In(1)
        A host write in this cycle.
    read_error : In(error_layout())
        Error flags of the host read issued in this cycle (from the :class:`~.read_path.ReadPath`).
    running : In(1)
        The engines still have work in flight; a job is done in the first cycle without.
    saturated : In(1)
        One clamped cell update (counted in SATURATIONS, saturating at 2**32 - 1).
    job : Out(job_layout(config))
        The job registers (valid values only: a refused write leaves them unchanged).
    start, abort : Out(1)
        One-cycle strobes, from registers one cycle after the CONTROL write (so the write's
        decode stays off the paths into the step counters' enables): a job starts (written
        while idle; STATUS is busy from the cycle of this strobe, and the job is done no earlier
        than the cycle after it) / the running job is to stop at the next Euler-step boundary
        (ABORT is asynchronous to the steps anyway).
    busy, done : Out(1)
        A job is running / the last job has finished (cleared by start and CONTROL_CLEAR).
    status : Out(status_layout())
        The STATUS word.
    saturations : Out(32)
        Clamped cell updates of the current / last job.
    cycles : Out(range(max_cycles + 1))
        Clock cycles from start to done of the current / last job.
    result_n : Out(range(N + 1))
        ``n_active`` of the current / last job (bounds the reads of its sums).
    result_moments : Out(1)
        Whether the current / last job accumulated second moments.
    write_a, write_b, write_seed : Out(1)
        One-cycle strobes: the host write of this cycle goes to the A, b or seeds memory at the
        address's offset (checked: in range, value representable, core idle).
    """

    def __init__(self, config: SPUConfig, max_cycles: int):
        self.config = config
        super().__init__({
            "addr": In(rm.ADDR_BITS),
            "w_data": In(rm.DATA_BITS),
            "w_stb": In(1),
            "read_error": In(error_layout()),
            "running": In(1),
            "saturated": In(1),
            "job": Out(job_layout(config), init={"n_active": config.n, **JOB_DEFAULTS}),
            "start": Out(1),
            "abort": Out(1),
            "busy": Out(1),
            "done": Out(1),
            "status": Out(status_layout()),
            "saturations": Out(32),
            "cycles": Out(range(max_cycles + 1)),
            "result_n": Out(range(config.n + 1)),
            "result_moments": Out(1),
            "write_a": Out(1),
            "write_b": Out(1),
            "write_seed": Out(1),
        })

    def _decode_write(self, m, write_error):
        """Route an accepted write of a non-control address; flag a refused one."""
        cfg, offset, w_data = self.config, self.addr[:rm.OFFSET_BITS], self.w_data
        region = self.addr[rm.REGION_SHIFT:]
        row, col = offset[cfg.log2_n:], offset[:cfg.log2_n]

        def sign_extends(bits):
            top = w_data[bits - 1:]
            return (top == 0) | (top == (1 << len(top)) - 1)

        # (region, address in range, value representable, strobe of an accepted write)
        memories = [
            (rm.REGION_A, below(row, cfg.n) & below(col, cfg.n), sign_extends(cfg.a_bits),
             self.write_a),
            (rm.REGION_B, below(offset, cfg.n), sign_extends(cfg.b_bits), self.write_b),
            (rm.REGION_SEEDS, below(offset, 4 * cfg.n), w_data[32:] == 0, self.write_seed),
        ]
        with m.If(self.busy):
            m.d.comb += write_error.eq(error_flag("write_while_busy"))
        with m.Elif(region == rm.REGION_REGS):
            with m.Switch(offset):
                for reg, field in rm.JOB_REGISTERS.items():
                    with m.Case(reg):
                        with m.If(within(w_data, *rm.job_register_range(field, cfg))):
                            m.d.sync += self.job[field].eq(w_data)
                        with m.Else():
                            m.d.comb += write_error.eq(error_flag("bad_value"))
                with m.Default():
                    m.d.comb += write_error.eq(error_flag("bad_address"))
        for code, in_range, representable, strobe in memories:
            with m.Elif(region == code):
                with m.If(~in_range):
                    m.d.comb += write_error.eq(error_flag("bad_address"))
                with m.Elif(~representable):
                    m.d.comb += write_error.eq(error_flag("bad_value"))
                with m.Else():
                    m.d.comb += strobe.eq(1)
        with m.Else():
            m.d.comb += write_error.eq(error_flag("bad_address"))

    def _job_state(self, m, clear, start_written):
        """busy / done / aborted, and the counters of the job (from the CONTROL write of START,
        ``start_written``: STATUS is busy from the next cycle on)."""
        aborted, abort_requested = Signal(), Signal()
        with m.If(clear):
            m.d.sync += [self.done.eq(0), aborted.eq(0)]
        with m.If(start_written):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), aborted.eq(0), abort_requested.eq(0),
                         self.result_n.eq(self.job.n_active),
                         self.result_moments.eq(self.job.moments)]
        with m.Elif(self.busy):
            with m.If(self.abort):
                m.d.sync += abort_requested.eq(1)
            with m.If(~self.running & ~self.start):
                m.d.sync += [self.busy.eq(0), self.done.eq(1), aborted.eq(abort_requested)]
        # The counters restart from ``start``, the write's registered strobe, so the write's
        # decode is not on the paths into their enables (on the iCE40 it was a 29 ns path,
        # placement seed 4): CYCLES is 1 in the cycle after that, as it was when it restarted
        # from 0 a cycle earlier, and no read sees the cycle between (a read's value is taken
        # a cycle after its strobe, and the strobe comes after the write).
        with m.If(self.start):
            m.d.sync += [self.saturations.eq(0), self.cycles.eq(1)]
        with m.Elif(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        # Counted a cycle after the update, from the integrator's registered flag.
        with m.If(self.saturated & (self.saturations != (1 << 32) - 1)):
            m.d.sync += self.saturations.eq(self.saturations + 1)
        return aborted

    def elaborate(self, platform):
        m = Module()
        region = self.addr[rm.REGION_SHIFT:]
        offset = self.addr[:rm.OFFSET_BITS]
        write_error = Signal(error_layout())
        control_error = Signal(error_layout())
        control_write = Signal()
        with m.If(self.w_stb):
            with m.If((region == rm.REGION_REGS) & (offset == rm.REG_CONTROL)):
                m.d.comb += control_write.eq(1)
            with m.Else():
                self._decode_write(m, write_error)

        command = self.w_data
        # START and ABORT reach the engines from registers, a cycle after the write: the
        # write's decode is not on the paths into the step counters' enables.
        start_written, abort_written = Signal(), Signal()
        m.d.sync += [self.start.eq(start_written),
                     abort_written.eq(control_write & self.busy
                                      & (command & rm.CONTROL_ABORT).any())]
        m.d.comb += self.abort.eq(abort_written & self.busy)
        with m.If(control_write):
            with m.If(command & rm.CONTROL_START):
                with m.If(self.busy):
                    m.d.comb += control_error.eq(error_flag("write_while_busy"))
                with m.Else():
                    m.d.comb += start_written.eq(1)
        clear = control_write & (command & rm.CONTROL_CLEAR).any()

        errors = Signal(error_layout())
        new_errors = Signal(error_layout())
        m.d.sync += new_errors.eq(write_error.as_value() | self.read_error.as_value()
                                  | control_error.as_value())
        with m.If(clear):
            m.d.sync += errors.eq(0)
        with m.Elif(new_errors.as_value().any()):
            m.d.sync += errors.eq(errors.as_value() | new_errors.as_value())
        aborted = self._job_state(m, clear, start_written)

        m.d.comb += [
            self.status.busy.eq(self.busy), self.status.done.eq(self.done),
            self.status.error.eq(errors.as_value().any()), self.status.aborted.eq(aborted),
            self.status.errors.eq(errors),
        ]
        return m
