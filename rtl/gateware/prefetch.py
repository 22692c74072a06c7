"""``CellPrefetch``: each cell's bias and noise sample, fetched ahead of its coupling sum.

Noise does not depend on the state, so it is made in a pipeline of its own, ahead of use: from
the cycle the sequencer issues a group's last column, one cell per cycle (row base + lane) has
its bias b[i] and its generator's two ring words read (cycle F); the generator step
(:class:`~.noise.NoiseStep`, xorshift128) on the memories' words is registered (F + 1) and its new
word written back in the next cycle (F + 2), in which the byte sum of the Gaussian approximation
is computed and registered; b and g are on the outputs in F + :attr:`CellPrefetch.LATENCY`, the
integrator's prepare stages take them from there. No noise logic lies between a memory and the
integrator's multiplier, nor on the update path. The b and generator-word memories live here;
while the core is idle their ports belong to the host (writes of b and seeds, reads through the
read path).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec import regmap as rm
from ..spec.config import SPUConfig
from .block_ram import BlockRAM
from .noise import GAUSSIAN_BITS, NoiseStep, gaussian_of

__all__ = ["CellPrefetch"]


class CellPrefetch(wiring.Component):
    """Per-cell operands of the Euler update: b[i] (signed b_bits) and g (the generator's
    Gaussian sample, signed GAUSSIAN_BITS), one cell per cycle.

    Generator words are split by the parity of their ring slot so that a step's two reads
    (oldest word x, newest word w: neighbouring slots) hit different memories. Word k of cell i
    lives in memory k % 2 at address (source, i, k // 2): source 0 holds the seed the host wrote,
    source 1 the words written since the job started. Seed and working words share a memory
    because one step never needs both from the same memory.

    Parameters
    ----------
    config : SPUConfig
        The machine (N cells, b_bits).

    Members
    -------
    group_valid : In(1)
        The sequencer issues the last column of a group this cycle: fetch its rows from
        ``row_base`` on, ``rows`` of them, one per cycle.
    row_base : In(range(N + P))
    rows : In(range(P + 1))
    phase : In(2)
        Steps so far mod 4 (the ring slot of the oldest generator word).
    warmup : In(1)
        One of the first four steps: the oldest word is still the seed's.
    first_step : In(1)
        The first step: the newest word is still the seed's.
    b : Out(signed(b_bits))
    gaussian : Out(signed(GAUSSIAN_BITS))
        Operands of the cell fetched :attr:`LATENCY` cycles earlier, for ``CellIntegrator.b``
        and ``CellIntegrator.gaussian``.
    busy : In(1)
        A job runs: the memories' ports belong to the prefetch, otherwise to the host.
    host_offset : In(24)
        Host address offset (``regmap``): b[i] at i, seed word k of cell i at 4*i + k.
    host_w_data : In(64)
        Host write data.
    host_write_b, host_write_seed : In(1)
        Accepted host writes (the register file has checked them).
    host_b : Out(signed(b_bits))
    host_seed : Out(ArrayLayout(32, 2))
        Read data one cycle after ``host_offset``: b[offset]; the even and odd seed words of
        ``offset``'s cell and slot pair (the read path picks by ``offset[0]``).
    """

    #: Cycles from a cell's fetch (``group_valid``, or its turn after it) to its b and g on the
    #: outputs: memory read, generator step, byte sum.
    LATENCY = 3

    def __init__(self, config: SPUConfig):
        self.config = config
        super().__init__({
            "group_valid": In(1),
            "row_base": In(range(config.n + config.lanes)),
            "rows": In(range(config.lanes + 1)),
            "phase": In(2),
            "warmup": In(1),
            "first_step": In(1),
            "b": Out(signed(config.b_bits)),
            "gaussian": Out(signed(GAUSSIAN_BITS)),
            "busy": In(1),
            "host_offset": In(rm.OFFSET_BITS),
            "host_w_data": In(rm.DATA_BITS),
            "host_write_b": In(1),
            "host_write_seed": In(1),
            "host_b": Out(signed(config.b_bits)),
            "host_seed": Out(data.ArrayLayout(32, 2)),
        })

    def _schedule(self, m):
        """The cell fetched this cycle: (valid, cell, phase, warmup, first_step)."""
        row_bits = self.config.log2_n
        valid, cell, phase = Signal(), Signal(row_bits), Signal(2)
        warmup, first_step = Signal(), Signal()
        next_cell = Signal(row_bits)
        left = Signal(range(self.config.lanes + 1))
        group_phase, group_warmup, group_first_step = Signal(2), Signal(), Signal()
        with m.If(self.group_valid):
            m.d.comb += [valid.eq(1), cell.eq(self.row_base), phase.eq(self.phase),
                         warmup.eq(self.warmup), first_step.eq(self.first_step)]
            m.d.sync += [next_cell.eq(self.row_base + 1), left.eq(self.rows - 1),
                         group_phase.eq(self.phase), group_warmup.eq(self.warmup),
                         group_first_step.eq(self.first_step)]
        with m.Elif(left != 0):
            m.d.comb += [valid.eq(1), cell.eq(next_cell), phase.eq(group_phase),
                         warmup.eq(group_warmup), first_step.eq(group_first_step)]
            m.d.sync += [next_cell.eq(next_cell + 1), left.eq(left - 1)]
        return valid, cell, phase, warmup, first_step

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        row_bits = cfg.log2_n
        offset = self.host_offset
        m.submodules.noise = noise = NoiseStep()
        m.submodules.b_mem = b_mem = BlockRAM(shape=cfg.b_bits, depth=cfg.n)
        b_wr, b_rd = b_mem.write_port(), b_mem.read_port()
        word_wr, word_rd = [], []
        for parity in (0, 1):
            mem = BlockRAM(shape=32, depth=4 << row_bits)
            m.submodules[f"generator_words{parity}"] = mem
            word_wr.append(mem.write_port())
            word_rd.append(mem.read_port())
        host_seed_addr = Cat(offset[1], offset[2:2 + row_bits], Const(0, 1))

        valid, cell, phase, warmup, first_step = self._schedule(m)
        # Ring slot of the oldest word x is the phase (steps so far mod 4); the newest word w
        # sits in the slot before it. Slots not yet rewritten in this job are read from the
        # seed: x during the first four steps, w in the first step.
        x_slot = phase
        w_slot = (phase + 3)[:2]
        for parity in (0, 1):
            is_x = x_slot[0] == parity
            slot = Mux(is_x, x_slot, w_slot)
            from_seed = Mux(is_x, warmup, first_step)
            m.d.comb += word_rd[parity].addr.eq(
                Mux(self.busy, Cat(slot[1], cell, ~from_seed), host_seed_addr))
        m.d.comb += [
            b_rd.addr.eq(Mux(self.busy, cell, offset)),
            b_wr.addr.eq(offset), b_wr.data.eq(self.host_w_data), b_wr.en.eq(self.host_write_b),
        ]

        # F + 1: the memories' words; the generator step, registered.
        stepped_valid, stepped_phase = Signal(), Signal(2)
        stepped_cell = Signal(row_bits)
        m.d.sync += [stepped_valid.eq(valid), stepped_cell.eq(cell), stepped_phase.eq(phase)]
        x_parity = stepped_phase[0]
        m.d.comb += [
            noise.x.eq(Mux(x_parity, word_rd[1].data, word_rd[0].data)),
            noise.w.eq(Mux(x_parity, word_rd[0].data, word_rd[1].data)),
            self.host_b.eq(b_rd.data),
        ]
        new_valid, new_phase, new_cell = Signal(), Signal(2), Signal(row_bits)
        new_word = Signal(32)
        new_b = Signal(signed(cfg.b_bits))
        m.d.sync += [new_valid.eq(stepped_valid), new_phase.eq(stepped_phase),
                     new_cell.eq(stepped_cell), new_word.eq(noise.word), new_b.eq(b_rd.data)]
        # F + 2: the new word replaces x (host: seed writes); g from its bytes, registered.
        m.d.sync += [self.b.eq(new_b), self.gaussian.eq(gaussian_of(new_word))]
        for parity, wr in enumerate(word_wr):
            host_write = self.host_write_seed & (offset[0] == parity)
            m.d.comb += [
                wr.addr.eq(Mux(self.busy, Cat(new_phase[1], new_cell, Const(1, 1)),
                               host_seed_addr)),
                wr.data.eq(Mux(self.busy, new_word, self.host_w_data)),
                wr.en.eq(Mux(self.busy, new_valid & (new_phase[0] == parity), host_write)),
                self.host_seed[parity].eq(word_rd[parity].data),
            ]
        return m
