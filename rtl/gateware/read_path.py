"""``ReadPath``: the core's host reads, a fixed-latency pipeline of ``regmap.READ_LATENCY`` = 3.

Stage 0 (the ``r_stb`` cycle) checks the address while the :class:`~.datapath.Datapath`
addresses its memories with it; stage 1 has the memories' words out and registers the word of
the address's region, except that a region of more than one group of banks (A with P > 8, sum_yy
with M > 8; :mod:`.bank_select`) registers each group's word; stage 2 picks the group where
there are several and registers the answer onto ``r_data`` with ``r_ack``.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec.config import SPUConfig
from .bank_select import bank_groups, group_index, group_words
from .bounds import below
from .register_file import error_flag, error_layout, job_layout, status_layout

__all__ = ["ReadPath", "memory_words_signature"]


def memory_words_signature(config: SPUConfig, moment_lanes: int) -> wiring.Signature:
    """The words of the memory regions at the host's address, one cycle after it (from the
    memories' side; the :class:`~.datapath.Datapath` drives them).

    Members
    -------
    a : Out(ArrayLayout(signed(a_bits), P))
        The word at the address's column in every A bank (the read path picks the row's bank).
    b : Out(signed(b_bits))
    seed : Out(ArrayLayout(32, 2))
        The even and odd seed words of the address's cell and slot pair.
    sum_y : Out(signed(sum_x_bits))
    sum_yy : Out(ArrayLayout(signed(sum_xx_bits), bank_groups(moment_lanes)))
        The word of each group of sum_yy banks (:func:`~.bank_select.group_words`).
    """
    return wiring.Signature({
        "a": Out(data.ArrayLayout(signed(config.a_bits), config.lanes)),
        "b": Out(signed(config.b_bits)),
        "seed": Out(data.ArrayLayout(32, 2)),
        "sum_y": Out(signed(config.sum_x_bits)),
        "sum_yy": Out(data.ArrayLayout(signed(config.sum_xx_bits), bank_groups(moment_lanes))),
    })


class ReadPath(wiring.Component):
    """Host reads of registers, memories and accumulators.

    A read of a memory region while ``busy`` returns 0 and flags READ_WHILE_BUSY; a read outside
    the map returns 0 and flags BAD_ADDRESS; reads of the sums outside the last job's results
    (``result_n``, ``result_moments``, no sample taken) return 0 without a flag.

    Parameters
    ----------
    config : SPUConfig
        The machine: info register values, memory bounds and word widths.
    max_cycles : int
        Bound of the CYCLES counter (its width).
    moment_lanes : int
        The second-moment lanes M: sum_yy is banked M ways.

    Members
    -------
    addr : In(32)
        Host word address, sampled with ``r_stb``.
    r_stb : In(1)
        A host read in this cycle.
    r_data : Out(64)
        The word, ``READ_LATENCY`` = 3 cycles after ``r_stb``; signed words sign-extended; 0
        when not ``r_ack``.
    r_ack : Out(1)
        High ``READ_LATENCY`` cycles after each ``r_stb``.
    read_error : Out(error_layout())
        Flags of the read issued in this cycle (to the register file's sticky errors).
    busy : In(1)
        A job runs: the engines own the memories.
    job, status, saturations, cycles, result_n, result_moments
        From the :class:`~.register_file.RegisterFile` (see there).
    samples_taken : In(max_samples_log2 + 1)
        COUNT: samples accumulated by the current / last job.
    steps : In(range(max_job_steps + 1))
        STEPS: Euler steps started by the current / completed by the last job.
    memory_words : In(memory_words_signature(config, moment_lanes))
        The memories' words at the address of the read in stage 0, in stage 1.
    """

    def __init__(self, config: SPUConfig, max_cycles: int, moment_lanes: int):
        self.config = config
        self.moment_lanes = moment_lanes
        super().__init__({
            "addr": In(rm.ADDR_BITS),
            "r_stb": In(1),
            "r_data": Out(rm.DATA_BITS),
            "r_ack": Out(1),
            "read_error": Out(error_layout()),
            "busy": In(1),
            "job": In(job_layout(config)),
            "status": In(status_layout()),
            "saturations": In(32),
            "cycles": In(range(max_cycles + 1)),
            "result_n": In(range(config.n + 1)),
            "result_moments": In(1),
            "samples_taken": In(config.max_samples_log2 + 1),
            "steps": In(range(config.max_job_steps + 1)),
            "memory_words": In(memory_words_signature(config, moment_lanes)),
        })

    def _register_value(self, m, reg):
        """The value of register ``reg`` (a stage-1 offset) in ``m``'s comb domain."""
        cfg = self.config
        info = {
            rm.REG_ID: rm.SPU_ID, rm.REG_VERSION: rm.GATEWARE_VERSION,
            **{r: getattr(cfg, field) for r, field in rm.INFO_REGISTERS.items()},
        }
        counters = {
            rm.REG_STATUS: self.status, rm.REG_COUNT: self.samples_taken,
            rm.REG_SATURATIONS: self.saturations, rm.REG_STEPS: self.steps,
            rm.REG_CYCLES: self.cycles,
        }
        value = Signal(rm.DATA_BITS)
        with m.Switch(reg):
            for number, word in info.items():
                with m.Case(number):
                    m.d.comb += value.eq(word)
            for number, field in rm.JOB_REGISTERS.items():
                with m.Case(number):
                    m.d.comb += value.eq(self.job[field])
            for number, word in counters.items():
                with m.Case(number):
                    m.d.comb += value.eq(word)
        return value

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        region = self.addr[rm.REGION_SHIFT:]
        offset = self.addr[:rm.OFFSET_BITS]
        row, col = offset[cfg.log2_n:], offset[:cfg.log2_n]
        in_matrix = below(row, cfg.n) & below(col, cfg.n)
        lane_bits = cfg.lanes.bit_length() - 1

        # --- stage 0: check the address ------------------------------------------------------
        s1_valid, s1_ok, s1_in_result = Signal(), Signal(), Signal()
        s1_region = Signal(8)
        s1_offset = Signal(rm.OFFSET_BITS)
        m.d.sync += [s1_valid.eq(self.r_stb), s1_region.eq(region), s1_offset.eq(offset)]
        m.d.sync += s1_in_result.eq((self.samples_taken != 0) & Mux(
            region == rm.REGION_SUM_Y, offset < self.result_n,
            self.result_moments & (row <= col) & (col < self.result_n)))
        read_memory = (region >= rm.REGION_A) & (region <= rm.REGION_SUM_YY)
        with m.If(self.r_stb):
            with m.If(read_memory & self.busy):
                m.d.comb += self.read_error.eq(error_flag("read_while_busy"))
                m.d.sync += s1_ok.eq(0)
            with m.Else():
                ok = Mux(region == rm.REGION_REGS, 1,
                         Mux((region == rm.REGION_A) | (region == rm.REGION_SUM_YY), in_matrix,
                             Mux(region == rm.REGION_SEEDS, below(offset, 4 * cfg.n),
                                 (region <= rm.REGION_SUM_YY) & below(offset, cfg.n))))
                m.d.sync += s1_ok.eq(ok)
                with m.If(~ok):
                    m.d.comb += self.read_error.eq(error_flag("bad_address"))

        # --- stage 1: the region's word registered (a word per bank group where there are
        # several) --------------------------------------------------------------------------------
        memory = self.memory_words
        s2_valid, s2_ok, s2_in_result = Signal(), Signal(), Signal()
        s2_region = Signal(8)
        m.d.sync += [s2_valid.eq(s1_valid), s2_ok.eq(s1_ok), s2_in_result.eq(s1_in_result),
                     s2_region.eq(s1_region)]
        s1_row = s1_offset[cfg.log2_n:]
        s1_bank = s1_row[:lane_bits]     # the A bank of the address's row
        banked = {   # region: (its group words, the index of the address's group)
            rm.REGION_A: (group_words(m, [memory.a[lane] for lane in range(cfg.lanes)],
                                      s1_bank, "host_a"),
                          group_index(s1_bank, cfg.lanes)),
            rm.REGION_SUM_YY: ([memory.sum_yy[g] for g in range(len(memory.sum_yy))],
                               group_index(s1_row, self.moment_lanes)),
        }
        words = {
            rm.REGION_REGS: self._register_value(m, s1_offset),
            rm.REGION_B: memory.b,
            rm.REGION_SEEDS: Mux(s1_offset[0], memory.seed[1], memory.seed[0]),
            rm.REGION_SUM_Y: Mux(s1_in_result, memory.sum_y, 0),
        }
        in_stage_2 = {}     # region: its group words registered, the group index registered
        for code, (groups, index) in banked.items():
            if len(groups) == 1:
                words[code] = groups[0]
            else:
                registered = [Signal(Value.cast(word).shape(), name=f"s2_region{code}_group{g}")
                              for g, word in enumerate(groups)]
                s2_index = Signal(len(index), name=f"s2_region{code}_group")
                m.d.sync += [s2_index.eq(index), *(r.eq(w) for r, w in zip(registered, groups))]
                in_stage_2[code] = (registered, s2_index)
        if rm.REGION_SUM_YY in words:
            words[rm.REGION_SUM_YY] = Mux(s1_in_result, words[rm.REGION_SUM_YY], 0)
        s2_word = Signal(rm.DATA_BITS)
        with m.Switch(s1_region):
            for code, word in words.items():
                with m.Case(code):
                    m.d.sync += s2_word.eq(word)
            with m.Default():
                m.d.sync += s2_word.eq(0)

        # --- stage 2: answer ---------------------------------------------------------------------
        read_value = Signal(rm.DATA_BITS)
        with m.Switch(s2_region):
            for code, (registered, s2_index) in in_stage_2.items():
                in_result = s2_in_result if code == rm.REGION_SUM_YY else 1
                with m.Case(code):
                    with m.Switch(s2_index):
                        for g, word in enumerate(registered):
                            with m.Case(g):
                                m.d.comb += read_value.eq(Mux(in_result, word, 0))
            with m.Default():
                m.d.comb += read_value.eq(s2_word)
        m.d.sync += [self.r_ack.eq(s2_valid),
                     self.r_data.eq(Mux(s2_valid & s2_ok, read_value, 0))]
        return m
