"""``RequestChecks``: the verdicts on a received request, in the order the protocol checks them.

Combinational on the request and the engine's job state, registered once: the command
executor reads them a cycle after the inputs settle, which keeps the argument arithmetic off
its state machine's path. The READ_* range ends (start + count) are registered before they are
compared: the request is held from the cycle it arrives and the executor reads the verdicts no
earlier than its fourth cycle (a STATUS read of the core comes first), so two stages fit.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bounds import below, within
from ...spec import wire
from ...spec.config import SPUConfig
from ...spec.wire import Command
from .receiver import RequestLayout

__all__ = ["RequestChecks", "times", "max_ok_length"]


def times(value, constant: int):
    """``value * constant`` for a non-negative constant, as shifts and adds (no multiplier)."""
    total = Const(0, 1)
    bit = 0
    while constant >> bit:
        if (constant >> bit) & 1:
            total = total + (value << bit)
        bit += 1
    return total


def max_ok_length(config: SPUConfig, info_bytes: int) -> int:
    """The largest LEN of a response the checks let through (1 status byte plus data bytes):
    INFO, STATUS, READ_MEAN of all N cells or READ_MOMENTS of the whole triangle."""
    fmt = wire.WireFormat.for_config(config)
    return 1 + max(info_bytes, wire.STATUS_RESPONSE.size,
                   wire.READ_MEAN_HEADER_BYTES + config.n * fmt.sum_y_bytes,
                   config.n_moments * fmt.sum_yy_bytes)


class RequestChecks(wiring.Component):
    """Is the command known, its length right, its arguments in range, the device ready?

    Parameters
    ----------
    config : SPUConfig
        N (index bounds), the moment count and the wire widths of READ_* items.
    max_request_payload : int
        Of the request buffer (shapes ``request``).
    info_bytes : int
        Length of INFO's data in bytes.

    Members
    -------
    request : In(RequestLayout(max_request_payload))
        The request under check (its payload fields; ``status`` is not looked at).
    core_done, core_aborted : In(1)
        The core's STATUS bits as read for this request.
    params_valid : In(1)
        A SET_PARAMS has succeeded since the last RESET.
    job_n : In(range(N + 1))
        n_active of the job last started.
    job_moments : In(1)
        The job last started accumulates sum_yy.
    job_triangle : In(range(N (N + 1) / 2 + 1))
        Moments of the job last started: job_n (job_n + 1) / 2.
    known, length_ok, needs_idle, argument_ok, ready_ok : Out(1)
        The verdicts, registered: a command of the protocol; LEN as the command requires;
        a command refused (BUSY) while the core runs; indices and counts in range; the device
        has what the command needs (parameters for RUN, results for READ_*).
    ok_length : Out(16)
        LEN of the OK response (1 + data bytes), registered.
    """

    def __init__(self, config: SPUConfig, *, max_request_payload: int, info_bytes: int):
        self.config = config
        self.info_length = info_bytes
        super().__init__({
            "request": In(RequestLayout(max_request_payload)),
            "core_done": In(1), "core_aborted": In(1), "params_valid": In(1),
            "job_n": In(range(config.n + 1)), "job_moments": In(1),
            "job_triangle": In(range(config.n_moments + 1)),
            "known": Out(1), "length_ok": Out(1), "needs_idle": Out(1), "argument_ok": Out(1),
            "ready_ok": Out(1), "ok_length": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        fmt = wire.WireFormat.for_config(cfg)
        n_cells, row_bits = cfg.n, cfg.log2_n
        code, length = self.request.code, self.request.length
        values, value_phase = self.request.values, self.request.value_phase
        core_done, core_aborted = self.core_done, self.core_aborted
        params_valid, job_n = self.params_valid, self.job_n
        job_moments, job_triangle = self.job_moments, self.job_triangle

        def arg(offset, nbytes):
            return self.request.args[8 * offset:8 * (offset + nbytes)]

        first_index = arg(0, 2)       # LOAD_A row / chain of LOAD_B, LOAD_SEEDS, READ_*
        second_index = arg(2, 2)      # LOAD_A col / start of LOAD_B, LOAD_SEEDS, READ_MEAN
        read_mean_count = arg(4, 2)
        moments_start = arg(2, 4)
        moments_count = arg(6, 2)

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

        # Registered ends of the READ_* ranges (the request is held while it is checked), only
        # as wide as their bounds: a start or count with a bit at or above 2**bits puts the end
        # above N (N (N + 1) / 2), which ``*_fits`` records, and the low bits' sum does the rest.
        cell_bits, moment_bits = n_cells.bit_length(), cfg.n_moments.bit_length()
        mean_end, mean_fits = Signal(cell_bits + 1), Signal()
        moments_end, moments_fits = Signal(moment_bits + 1), Signal()
        m.d.sync += [
            mean_end.eq(second_index[:cell_bits] + read_mean_count[:cell_bits]),
            mean_fits.eq(below(second_index, 1 << cell_bits)
                         & below(read_mean_count, 1 << cell_bits)),
            moments_end.eq(moments_start[:moment_bits] + moments_count[:moment_bits]),
            moments_fits.eq(below(moments_start, 1 << moment_bits)
                            & below(moments_count, 1 << moment_bits)),
        ]
        m.d.comb += argument_ok.eq(1)
        m.d.comb += ready_ok.eq(1)
        with m.Switch(code):
            with m.Case(Command.LOAD_A):
                row, col = first_index[:row_bits], second_index[:row_bits]
                m.d.comb += argument_ok.eq(
                    below(first_index, n_cells) & below(second_index, n_cells)
                    & (times(row, n_cells) + col + values <= n_cells * n_cells))
            with m.Case(Command.LOAD_B, Command.LOAD_SEEDS):
                load_fits = below(second_index, 1 << cell_bits) & below(values, 1 << cell_bits)
                m.d.comb += argument_ok.eq(
                    (first_index == 0) & load_fits
                    & (second_index[:cell_bits] + values[:cell_bits] <= n_cells))
            with m.Case(Command.RUN):
                m.d.comb += ready_ok.eq(params_valid)
            with m.Case(Command.READ_MEAN):
                m.d.comb += [
                    argument_ok.eq(
                        (first_index == 0) & (read_mean_count != 0)
                        & mean_fits & (mean_end <= n_cells)
                        & within(read_mean_count, 0, (wire.MAX_PAYLOAD - 1
                                                      - wire.READ_MEAN_HEADER_BYTES)
                                 // fmt.sum_y_bytes)),
                    ready_ok.eq(core_done & ~core_aborted & mean_fits & (mean_end <= job_n)),
                ]
            with m.Case(Command.READ_MOMENTS):
                m.d.comb += [
                    argument_ok.eq(
                        (first_index == 0) & (moments_count != 0)
                        & moments_fits & (moments_end <= cfg.n_moments)
                        & within(moments_count, 0, (wire.MAX_PAYLOAD - 1) // fmt.sum_yy_bytes)),
                    ready_ok.eq(core_done & ~core_aborted & job_moments & moments_fits
                                & (moments_end <= job_triangle)),
                ]

        # Read only when every check has passed: then a READ_* count fits the bits of its bound.
        ok_length = Signal(16)
        with m.Switch(code):
            with m.Case(Command.INFO):
                m.d.comb += ok_length.eq(1 + self.info_length)
            with m.Case(Command.STATUS):
                m.d.comb += ok_length.eq(1 + wire.STATUS_RESPONSE.size)
            with m.Case(Command.READ_MEAN):
                m.d.comb += ok_length.eq(1 + wire.READ_MEAN_HEADER_BYTES
                                         + times(read_mean_count[:cell_bits], fmt.sum_y_bytes))
            with m.Case(Command.READ_MOMENTS):
                m.d.comb += ok_length.eq(1 + times(moments_count[:moment_bits],
                                                   fmt.sum_yy_bytes))
            with m.Default():
                m.d.comb += ok_length.eq(1)

        m.d.sync += [self.known.eq(known), self.length_ok.eq(length_ok),
                     self.needs_idle.eq(needs_idle), self.argument_ok.eq(argument_ok),
                     self.ready_ok.eq(ready_ok), self.ok_length.eq(ok_length)]
        return m
