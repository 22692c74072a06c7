"""cocotb driver and monitor for SPUCore's host bus, and a host that runs whole jobs on it.

* :class:`HostBusDriver` puts writes and (pipelined) reads on the pins, following the timing of
  :mod:`thermospu.rtl.gateware.hostbus`. All pins are driven and sampled at the falling clock edge, half a
  cycle away from the rising edge the core samples on, so Icarus and Verilator (which order the
  callbacks of one time step differently) see the same thing.
* :class:`HostBusMonitor` watches the same pins independently of the driver: it records every
  transaction and checks the protocol (``r_ack`` exactly ``READ_LATENCY`` cycles after each
  ``r_stb``, ``r_data`` zero when not acknowledged, no acknowledge without a read).
* :class:`SPUHost` uses the driver the way a host does (load A, b, seeds and job registers,
  start, wait for ``done``, read back the accumulators and counters) and returns a
  :class:`~thermospu.rtl.spec.golden.JobResult`, ready for the scoreboard.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer, with_timeout

from thermospu.rtl.spec import regmap as rm
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.golden import JobResult, cell_seeds

__all__ = ["HostBusDriver", "HostBusMonitor", "BusTransaction", "SPUHost", "CLOCK_PERIOD_NS",
           "to_word", "from_word"]

#: Clock period the tests run the core at (the value is arbitrary: the core is synchronous).
CLOCK_PERIOD_NS = 10
_MASK64 = (1 << 64) - 1


def to_word(value: int) -> int:
    """A signed integer as the 64-bit bus word (sign-extended two's complement)."""
    return int(value) & _MASK64


def from_word(word: int) -> int:
    """A 64-bit bus word read back as a signed integer."""
    word = int(word)
    return word - (1 << 64) if word >> 63 else word


class HostBusDriver:
    """Initiator side of the host bus on a cocotb DUT.

    Parameters
    ----------
    dut : cocotb handle
        The simulated top level; its bus pins are ``<prefix>addr``, ``<prefix>w_data``,
        ``<prefix>w_stb``, ``<prefix>r_stb``, ``<prefix>r_data``, ``<prefix>r_ack``.
    clk : cocotb handle
        The core's clock.
    prefix : str
        Pin-name prefix of the bus (Amaranth flattens member ``bus`` to ``bus__*``).
    """

    def __init__(self, dut, clk, prefix: str = "bus__"):
        self.clk = clk
        self.addr = getattr(dut, prefix + "addr")
        self.w_data = getattr(dut, prefix + "w_data")
        self.w_stb = getattr(dut, prefix + "w_stb")
        self.r_stb = getattr(dut, prefix + "r_stb")
        self.r_data = getattr(dut, prefix + "r_data")
        self.r_ack = getattr(dut, prefix + "r_ack")
        #: Transactions issued (the monitor must see exactly these).
        self.writes = self.reads = 0
        self.idle()

    def idle(self) -> None:
        """Drive the bus idle (no strobes)."""
        self.w_stb.value = 0
        self.r_stb.value = 0
        self.addr.value = 0
        self.w_data.value = 0

    async def write_many(self, writes) -> None:
        """Write ``(address, signed value)`` pairs, one per cycle, back to back."""
        for address, value in writes:
            await FallingEdge(self.clk)
            self.addr.value = address
            self.w_data.value = to_word(value)
            self.w_stb.value = 1
            self.writes += 1
        await FallingEdge(self.clk)
        self.w_stb.value = 0

    async def write(self, address: int, value: int) -> None:
        await self.write_many([(address, value)])

    async def read_many(self, addresses, *, signed: bool = True) -> list[int]:
        """Read the words at ``addresses``, one request per cycle (pipelined); returns the
        values in order, as signed integers unless ``signed=False``."""
        addresses = list(addresses)
        values: list[int] = []
        issued = 0
        # A lost acknowledge must not hang the test: allow the latency plus slack.
        budget = len(addresses) + rm.READ_LATENCY + 8
        for _ in range(budget):
            await FallingEdge(self.clk)
            if self.r_ack.value:
                word = int(self.r_data.value)
                values.append(from_word(word) if signed else word)
            if issued < len(addresses):
                self.addr.value = addresses[issued]
                self.r_stb.value = 1
                issued += 1
                self.reads += 1
            else:
                self.r_stb.value = 0
                if len(values) == len(addresses):
                    return values
        raise AssertionError(f"host bus: {len(addresses)} reads issued, {len(values)} "
                             f"acknowledged within {budget} cycles")

    async def read(self, address: int, *, signed: bool = True) -> int:
        return (await self.read_many([address], signed=signed))[0]


@dataclasses.dataclass
class BusTransaction:
    """One observed bus transaction: ``kind`` is "write" or "read"; ``cycle`` is the clock
    period it was seen in (simulation time // period); ``data`` is the raw 64-bit word (for a read: as returned)."""

    kind: str
    address: int
    data: int
    cycle: int


class HostBusMonitor:
    """Passive observer of the host bus: transaction log and protocol checks.

    It wakes on bus activity only (a strobe rising), then follows the bus cycle by cycle until it
    is quiet again, so it costs nothing while the core runs a job.

    Attributes
    ----------
    transactions : list of BusTransaction
        Everything seen (cleared by :meth:`clear`).
    violations : list of str
        Protocol errors seen; :meth:`check` raises if there are any.
    """

    def __init__(self, dut, clk, prefix: str = "bus__", *, keep: bool = True):
        self.clk = clk
        self.keep = keep
        self.w_stb = getattr(dut, prefix + "w_stb")
        self.r_stb = getattr(dut, prefix + "r_stb")
        self.addr = getattr(dut, prefix + "addr")
        self.w_data = getattr(dut, prefix + "w_data")
        self.r_data = getattr(dut, prefix + "r_data")
        self.r_ack = getattr(dut, prefix + "r_ack")
        self.transactions: list[BusTransaction] = []
        self.violations: list[str] = []
        self.reads = self.writes = 0
        self._cycle = 0
        self._pending: list[tuple[int, int]] = []   # (address, cycle issued) of open reads

    def clear(self) -> None:
        self.transactions.clear()

    def _record(self, kind, address, data):
        if kind == "write":
            self.writes += 1
        else:
            self.reads += 1
        if self.keep:
            self.transactions.append(BusTransaction(kind, address, data, self._cycle))

    async def run(self) -> None:
        """The monitor's coroutine: start it with ``cocotb.start_soon(monitor.run())``."""
        while True:
            if self.w_stb.value or self.r_stb.value or self._pending:
                await FallingEdge(self.clk)
            else:
                # A strobe rises at a falling clock edge (the driver's), in this time step.
                await First(RisingEdge(self.w_stb), RisingEdge(self.r_stb))
            # Sample after every write of this time step has landed, whatever the simulator's
            # order of callbacks: the strobes the core will see at the next rising edge, and the
            # acknowledge it gave at the previous one.
            await ReadOnly()
            self._cycle = int(get_sim_time("ns") // CLOCK_PERIOD_NS)
            self._sample()

    def _sample(self) -> None:
        ack = bool(self.r_ack.value)
        due = self._pending and self._cycle - self._pending[0][1] == rm.READ_LATENCY
        if ack:
            if not due:
                self.violations.append(f"cycle {self._cycle}: r_ack without a read issued "
                                       f"{rm.READ_LATENCY} cycles before")
            else:
                address, _ = self._pending.pop(0)
                self._record("read", address, int(self.r_data.value))
        else:
            if due:
                address, _ = self._pending.pop(0)
                self.violations.append(f"cycle {self._cycle}: no r_ack for the read of "
                                       f"{address:#010x} issued {rm.READ_LATENCY} cycles before")
            if int(self.r_data.value) != 0:
                self.violations.append(f"cycle {self._cycle}: r_data={int(self.r_data.value):#x} "
                                       "while r_ack is low (must read 0)")
        # Strobes seen at this falling edge are sampled by the core at the next rising edge:
        # their acknowledge is due READ_LATENCY falling edges later.
        if self.w_stb.value:
            self._record("write", int(self.addr.value), int(self.w_data.value))
        if self.r_stb.value:
            self._pending.append((int(self.addr.value), self._cycle))

    def check(self, driver: HostBusDriver | None = None) -> None:
        """Raise on protocol violations, or if the monitor did not see exactly the transactions
        ``driver`` issued (every write, every read and its acknowledge)."""
        if driver is not None and (self.writes, self.reads) != (driver.writes, driver.reads):
            self.violations.append(
                f"monitor saw {self.writes} writes and {self.reads} acknowledged reads, the "
                f"driver issued {driver.writes} and {driver.reads}")
        if self.violations:
            raise AssertionError("host-bus protocol violations:\n" + "\n".join(self.violations[:20]))


class SPUHost:
    """Runs jobs on an SPUCore through a :class:`HostBusDriver`, as the driver's protocol engine
    will: every number comes from :mod:`thermospu.rtl.spec.regmap`.

    Parameters
    ----------
    bus : HostBusDriver
    config : SPUConfig
        The machine that was built; :meth:`check_info` compares it with the info registers.
    done, busy : cocotb handles
        The core's ``done`` and ``busy`` outputs: waiting on them costs no per-cycle callbacks.
    """

    def __init__(self, bus: HostBusDriver, config: SPUConfig, *, done, busy):
        self.bus, self.config = bus, config
        self.done, self.busy = done, busy

    async def info(self) -> dict[int, int]:
        regs = [rm.REG_ID, rm.REG_VERSION, *rm.INFO_REGISTERS]
        values = await self.bus.read_many([rm.address(rm.REGION_REGS, r) for r in regs],
                                          signed=False)
        return dict(zip(regs, values))

    async def check_info(self) -> None:
        info = await self.info()
        got = rm.config_from_info(info)
        if got != self.config:
            raise AssertionError(f"info registers describe {got}, the build was {self.config}")

    async def status(self) -> int:
        return await self.bus.read(rm.address(rm.REGION_REGS, rm.REG_STATUS), signed=False)

    async def control(self, bits: int) -> None:
        await self.bus.write(rm.address(rm.REGION_REGS, rm.REG_CONTROL), bits)

    def load_writes(self, a_q, b_q, params: JobParams, *, states=None) -> list[tuple[int, int]]:
        """The bus writes that load a job: A, b, the cells' generator states (from
        ``params.seed`` unless ``states`` (n_active x 4 uint32) is given) and the job registers."""
        n = params.n_active
        N = self.config.n
        writes = [(rm.a_address(i, j, N), int(a_q[i, j])) for i in range(n) for j in range(n)]
        writes += [(rm.b_address(i), int(b_q[i])) for i in range(n)]
        states = cell_seeds(params.seed, n) if states is None else states
        writes += [(rm.seed_address(i, w), int(states[i, w])) for i in range(n) for w in range(4)]
        fields = dataclasses.asdict(params)
        writes += [(rm.address(rm.REGION_REGS, reg), int(fields[field]))
                   for reg, field in rm.JOB_REGISTERS.items()]
        return writes

    async def load(self, a_q, b_q, params: JobParams) -> None:
        await self.bus.write_many(self.load_writes(a_q, b_q, params))

    async def start(self) -> None:
        await self.control(rm.CONTROL_START)

    async def wait_done(self, timeout_cycles: int) -> None:
        """Wait until the core is idle again (``busy`` low), at most ``timeout_cycles``."""
        await FallingEdge(self.bus.clk)
        if self.busy.value:
            await with_timeout(FallingEdge(self.busy), timeout_cycles * CLOCK_PERIOD_NS, "ns")
            await FallingEdge(self.bus.clk)
        if not self.done.value:
            raise AssertionError("busy fell but done is low")

    async def read_results(self, n_active: int, moments: bool) -> JobResult:
        """Read the accumulators and counters of the finished job."""
        N = self.config.n
        regs = [rm.REG_COUNT, rm.REG_SATURATIONS, rm.REG_STEPS]
        addresses = [rm.address(rm.REGION_REGS, r) for r in regs]
        addresses += [rm.sum_y_address(i) for i in range(n_active)]
        upper = [(i, j) for i in range(n_active) for j in range(i, n_active)]
        if moments:
            addresses += [rm.sum_yy_address(i, j, N) for i, j in upper]
        values = await self.bus.read_many(addresses)
        count, saturations, steps = values[:3]
        sum_y = np.array(values[3:3 + n_active], dtype=np.int64)
        sum_yy = np.array(values[3 + n_active:], dtype=np.int64) if moments else None
        return JobResult(sum_y=sum_y, sum_yy=sum_yy, count=count, saturations=saturations,
                         steps=steps)

    def timeout_cycles(self, params: JobParams) -> int:
        """A generous bound on a job's run time: 4x the ideal ceil(n^2/P) cycles per step plus
        slack for each step, sample and the start-up."""
        n = self.config.n
        per_step = 4 * (-(-n * n // self.config.lanes) + 16 + n)
        return params.steps * per_step + 64 * (n + 8) + params.samples * 4 * n * n

    async def run_job(self, a_q, b_q, params: JobParams) -> tuple[JobResult, int]:
        """Load, start, wait, read back. Returns (result, cycles the core counted in REG_CYCLES)."""
        await self.load(a_q, b_q, params)
        await self.start()
        await self.wait_done(self.timeout_cycles(params))
        status = await self.status()
        if status & rm.STATUS_ERROR:
            raise AssertionError(f"job ended with STATUS {status:#x}: {rm.decode_status(status)}")
        result = await self.read_results(params.n_active, params.moments)
        cycles = await self.bus.read(rm.address(rm.REGION_REGS, rm.REG_CYCLES), signed=False)
        return result, cycles

    async def pause(self, cycles: int) -> None:
        """Let ``cycles`` clock cycles pass without per-cycle callbacks; ends on a falling edge."""
        if cycles > 1:
            await Timer((cycles - 1) * CLOCK_PERIOD_NS, "ns")
        await FallingEdge(self.bus.clk)
