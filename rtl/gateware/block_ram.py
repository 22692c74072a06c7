"""``BlockRAM``: a memory with one write port whose reads of the word being written are undefined.

Amaranth's non-transparent read port promises the *old* word when it reads the row a write port
writes in the same cycle. Neither the iCE40's SB_RAM40_4K nor the ECP5's DP16KD gives that for a
read and a write on different ports, so Yosys emulates it: it delays every write by a cycle
(address, data and enable registers) and puts a comparator and a bypass multiplexer behind every
read port. On the iCEBreaker default that emulation was 384 flip-flops and 291 LUT4s
(10 % of the logic cells), with a multiplexer on every block RAM's read data, on the paths
that limit the clock.

None of the core's memories needs the old word: where a read of the row being written happens,
its word is either unused (a read port keeps reading at an address while a write lands there,
e.g. the host's address during its writes) or replaced (the state buffers' forwarding register).
:class:`BlockRAM` states that as the memory's contract: a read of the row written in the same
cycle returns an undefined word. The iCEBreaker's build tells Yosys so with
:data:`UNDEFINED_COLLISIONS` (no emulation, the block RAM as it is); the ULX3S's keeps the
emulation, which returns the old word, one of the words allowed (boards/ulx3s.py says why).
Simulation (``platform`` is None: the Amaranth simulator and the Verilog the cocotb tests run)
returns the bitwise complement of the old word for such a read, so a design that used it would
fail its bit-exact tests against the golden model.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib.memory import Memory, ReadPort
from amaranth.utils import ceil_log2

__all__ = ["BlockRAM", "UNDEFINED_COLLISIONS"]

#: Yosys command (run after reading the design, before synthesis) that marks every synchronous
#: read port as undefined when it reads the row written in the same cycle, so that no read-first
#: emulation is built. It covers every memory of a build: the core's and the engine's
#: :class:`BlockRAM`\\ s, and the UART receive FIFO (amaranth.lib.fifo.SyncFIFOBuffered), which
#: reads only while it holds a word and writes only while it has room, so it never reads the row
#: it writes. The value 1 marks write port 0: a BlockRAM has one.
UNDEFINED_COLLISIONS = "setparam -set COLLISION_X_MASK 1 t:$memrd_v2"


class BlockRAM(Elaboratable):
    """A memory for one block RAM: one write port, synchronous non-transparent read ports.

    Parameters
    ----------
    shape : shape-like
        Of a word.
    depth : int
        Words.

    A read whose address is the row the write port writes in the same cycle (write enable
    asserted) returns an undefined word; in simulation, the complement of the old word. Every
    other read returns the word as it was before the cycle's write.
    """

    def __init__(self, *, shape, depth: int):
        self._memory = Memory(shape=shape, depth=depth, init=[])
        self._write_port = None
        self._read_ports = []      # (the memory's port, the port handed out)

    def write_port(self):
        """The write port (``sync`` domain); there is one."""
        if self._write_port is not None:
            raise ValueError("a BlockRAM has one write port")
        self._write_port = self._memory.write_port()
        return self._write_port

    def read_port(self) -> ReadPort:
        """A synchronous (``sync``), non-transparent read port: data one cycle after addr."""
        inner = self._memory.read_port()
        outer = ReadPort.Signature(addr_width=ceil_log2(self._memory.depth),
                                   shape=self._memory.shape).create()
        self._read_ports.append((inner, outer))
        return outer

    def elaborate(self, platform):
        m = Module()
        m.submodules.memory = self._memory
        write = self._write_port
        for inner, outer in self._read_ports:
            m.d.comb += [inner.addr.eq(outer.addr), inner.en.eq(outer.en)]
            if platform is None and write is not None:
                collided = Signal()     # the word now on inner.data was read while written
                with m.If(outer.en):
                    m.d.sync += collided.eq(write.en.any() & (write.addr == outer.addr))
                m.d.comb += outer.data.eq(Mux(collided, ~inner.data, inner.data))
            else:
                m.d.comb += outer.data.eq(inner.data)
        return m
