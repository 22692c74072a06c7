"""``SPUCore``: the SPU behind its host bus (skeleton: registers and memories, no engine yet)."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import regmap as rm
from .config import SPUConfig
from .hostbus import HostBusSignature

__all__ = ["SPUCore", "CoreBuildError"]


class CoreBuildError(ValueError):
    """The gateware cannot be built for this SPUConfig."""


def check_buildable(config: SPUConfig) -> None:
    """Refuse configurations the gateware does not implement, with the reason."""
    if not isinstance(config, SPUConfig):
        raise TypeError(f"SPUCore needs an SPUConfig, got {type(config).__name__}")
    p = config.lanes
    if p & (p - 1):
        raise CoreBuildError(
            f"lanes={p} is not a power of two: row i of A lives in bank i mod P, which the "
            f"gateware decodes from the low bits of i; use lanes in {{1, 2, 4, 8, ...}}")


class SPUCore(wiring.Component):
    """The SPU core (see ``docs/gateware.md``).

    Parameters
    ----------
    config : SPUConfig
        The machine. ``lanes`` must be a power of two.

    Members
    -------
    bus : In(HostBusSignature())
        Host bus (target side); address map in :mod:`thermospu.rtl.regmap`.
    busy, done, error : Out(1)
        STATUS bits BUSY, DONE and ERROR as plain outputs (e.g. for LEDs).
    """

    def __init__(self, config: SPUConfig):
        check_buildable(config)
        self.config = config
        super().__init__({
            "bus": In(HostBusSignature()),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        bus = self.bus
        n, p = cfg.n, cfg.lanes
        row_bits = cfg.log2_n
        lane_bits = p.bit_length() - 1
        rows_per_bank = -(-n // p)

        # --- job registers --------------------------------------------------------------
        job_regs = {}
        defaults = {"n_active": n, "samples": 1, "thin": 1}
        for reg, field in rm.JOB_REGISTERS.items():
            lo, hi = rm.job_register_range(field, cfg)
            job_regs[reg] = (Signal(unsigned(max(1, hi.bit_length())), name=f"job_{field}",
                                    init=defaults.get(field, 0)), lo, hi)

        busy = Signal()
        done = Signal()
        aborted = Signal()
        errors = Signal(16)
        count = Signal(cfg.max_samples_log2 + 1)
        saturations = Signal(32)
        steps = Signal(64)
        cycles = Signal(64)

        region = bus.addr[rm.REGION_SHIFT:]
        offset = bus.addr[:rm.OFFSET_BITS]
        row = offset[row_bits:]
        col = offset[:row_bits]
        in_matrix = (row < n) & (col < n)

        # --- memories written by the host ------------------------------------------------
        a_banks = []
        for lane in range(p):
            mem = Memory(shape=cfg.a_bits, depth=rows_per_bank << row_bits, init=[])
            m.submodules[f"a_bank{lane}"] = mem
            a_banks.append((mem.write_port(), mem.read_port()))
        b_mem = Memory(shape=cfg.b_bits, depth=n, init=[])
        m.submodules.b_mem = b_mem
        b_wr, b_rd = b_mem.write_port(), b_mem.read_port()
        seed_mem = Memory(shape=128, depth=n, init=[])
        m.submodules.seed_mem = seed_mem
        seed_wr, seed_rd = seed_mem.write_port(granularity=32), seed_mem.read_port()

        def sign_extends(bits):
            top = bus.w_data[bits - 1:]
            return (top == 0) | (top == (1 << len(top)) - 1)

        bank_of_row = row[:lane_bits] if lane_bits else Const(0)
        bank_addr = Cat(col, row[lane_bits:])
        write_error = Signal(16)
        read_error = Signal(16)
        control_error = Signal(16)
        set_error = write_error | read_error | control_error

        # --- writes ------------------------------------------------------------------------
        for lane, (wr, _) in enumerate(a_banks):
            m.d.comb += [wr.addr.eq(bank_addr), wr.data.eq(bus.w_data)]
        m.d.comb += [
            b_wr.addr.eq(offset), b_wr.data.eq(bus.w_data),
            seed_wr.addr.eq(offset[2:]), seed_wr.data.eq(Cat(*(bus.w_data[:32] for _ in range(4)))),
        ]
        control_write = Signal()
        with m.If(bus.w_stb):
            with m.If((region == rm.REGION_REGS) & (offset == rm.REG_CONTROL)):
                m.d.comb += control_write.eq(1)
            with m.Elif(busy):
                m.d.comb += write_error.eq(rm.STATUS_WRITE_WHILE_BUSY)
            with m.Elif(region == rm.REGION_REGS):
                with m.Switch(offset):
                    for reg, (sig, lo, hi) in job_regs.items():
                        with m.Case(reg):
                            with m.If((bus.w_data >= lo) & (bus.w_data <= hi)):
                                m.d.sync += sig.eq(bus.w_data)
                            with m.Else():
                                m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                    with m.Default():
                        m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
            with m.Elif(region == rm.REGION_A):
                with m.If(~in_matrix):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(~sign_extends(cfg.a_bits)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    for lane, (wr, _) in enumerate(a_banks):
                        m.d.comb += wr.en.eq(bank_of_row == lane)
            with m.Elif(region == rm.REGION_B):
                with m.If(offset >= n):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(~sign_extends(cfg.b_bits)):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    m.d.comb += b_wr.en.eq(1)
            with m.Elif(region == rm.REGION_SEEDS):
                with m.If(offset >= 4 * n):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)
                with m.Elif(bus.w_data[32:] != 0):
                    m.d.comb += write_error.eq(rm.STATUS_BAD_VALUE)
                with m.Else():
                    m.d.comb += seed_wr.en.eq(1 << offset[:2])
            with m.Else():
                m.d.comb += write_error.eq(rm.STATUS_BAD_ADDRESS)

        # --- control ---------------------------------------------------------------------
        start = Signal()
        with m.If(control_write):
            with m.If(bus.w_data[0]):  # START
                with m.If(busy):
                    m.d.comb += control_error.eq(rm.STATUS_WRITE_WHILE_BUSY)
                with m.Else():
                    m.d.comb += start.eq(1)
        with m.If(control_write & (bus.w_data & rm.CONTROL_CLEAR).any()):
            m.d.sync += [errors.eq(0), done.eq(0), aborted.eq(0)]
        with m.Elif(set_error.any()):
            m.d.sync += errors.eq(errors | set_error)
        # Skeleton engine: a job finishes in the cycle after it starts.
        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0), aborted.eq(0), count.eq(0), saturations.eq(0),
                         steps.eq(0), cycles.eq(0)]
        with m.Elif(busy):
            m.d.sync += [busy.eq(0), done.eq(1), cycles.eq(cycles + 1)]

        status = Cat(busy, done, errors.any(), aborted, Const(0, 4), errors[8:])
        m.d.comb += [self.busy.eq(busy), self.done.eq(done), self.error.eq(errors.any())]

        # --- reads: stage 0 decodes and addresses the memories, stage 1 selects, stage 2 acks
        for _, rd in a_banks:
            m.d.comb += rd.addr.eq(bank_addr)
        m.d.comb += [b_rd.addr.eq(offset), seed_rd.addr.eq(offset[2:])]
        s1_valid = Signal()
        s1_region = Signal(8)
        s1_offset = Signal(rm.OFFSET_BITS)
        s1_bank = Signal(range(p))
        s1_ok = Signal()
        m.d.sync += [s1_valid.eq(bus.r_stb), s1_region.eq(region), s1_offset.eq(offset),
                     s1_bank.eq(bank_of_row)]
        read_memory = (region >= rm.REGION_A) & (region <= rm.REGION_SUM_YY)
        with m.If(bus.r_stb):
            with m.If(read_memory & busy):
                m.d.comb += read_error.eq(rm.STATUS_READ_WHILE_BUSY)
                m.d.sync += s1_ok.eq(0)
            with m.Else():
                ok = Mux(region == rm.REGION_REGS, 1,
                         Mux((region == rm.REGION_A) | (region == rm.REGION_SUM_YY), in_matrix,
                             Mux(region == rm.REGION_SEEDS, offset < 4 * n,
                                 (region <= rm.REGION_SUM_YY) & (offset < n))))
                m.d.sync += s1_ok.eq(ok)
                with m.If(~ok):
                    m.d.comb += read_error.eq(rm.STATUS_BAD_ADDRESS)

        info = {
            rm.REG_ID: rm.SPU_ID, rm.REG_VERSION: rm.GATEWARE_VERSION,
            **{reg: getattr(cfg, field) for reg, field in rm.INFO_REGISTERS.items()},
        }
        reg_value = Signal(64)
        with m.Switch(s1_offset):
            for reg, value in info.items():
                with m.Case(reg):
                    m.d.comb += reg_value.eq(value)
            for reg, (sig, _, _) in job_regs.items():
                with m.Case(reg):
                    m.d.comb += reg_value.eq(sig)
            with m.Case(rm.REG_STATUS):
                m.d.comb += reg_value.eq(status)
            with m.Case(rm.REG_COUNT):
                m.d.comb += reg_value.eq(count)
            with m.Case(rm.REG_SATURATIONS):
                m.d.comb += reg_value.eq(saturations)
            with m.Case(rm.REG_STEPS):
                m.d.comb += reg_value.eq(steps)
            with m.Case(rm.REG_CYCLES):
                m.d.comb += reg_value.eq(cycles)

        a_value = Signal(cfg.a_bits)
        with m.Switch(s1_bank):
            for lane, (_, rd) in enumerate(a_banks):
                with m.Case(lane):
                    m.d.comb += a_value.eq(rd.data)
        seed_word = seed_rd.data.word_select(s1_offset[:2], 32)
        read_value = Signal(64)
        with m.Switch(s1_region):
            with m.Case(rm.REGION_REGS):
                m.d.comb += read_value.eq(reg_value)
            with m.Case(rm.REGION_A):
                m.d.comb += read_value.eq(a_value.as_signed())
            with m.Case(rm.REGION_B):
                m.d.comb += read_value.eq(b_rd.data.as_signed())
            with m.Case(rm.REGION_SEEDS):
                m.d.comb += read_value.eq(seed_word)
        m.d.sync += [bus.r_ack.eq(s1_valid), bus.r_data.eq(Mux(s1_valid & s1_ok, read_value, 0))]
        return m
