"""The SPU core's host bus: a synchronous single-initiator word bus.

The protocol engine (UART/USB bridge, cocotb driver, CPU) is the initiator; :class:`SPUCore`
is the target. Addresses and the meaning of every word are in :mod:`thermospu.rtl.spec.regmap`.

Timing (all signals sampled on the rising edge of the core's ``sync`` clock):

* **write**: hold ``addr`` and ``w_data`` and raise ``w_stb`` for one cycle; the write takes
  effect in that cycle. There is no write acknowledge.
* **read**: hold ``addr`` and raise ``r_stb`` for one cycle; exactly
  :data:`~thermospu.rtl.spec.regmap.READ_LATENCY` cycles later ``r_ack`` is high for one cycle and
  ``r_data`` holds the word. Reads are pipelined: ``r_stb`` may be high in consecutive cycles and
  the acknowledges come back in order, one per cycle.
* A read and a write may be issued in the same cycle only to different addresses.
"""

from __future__ import annotations

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.regmap import ADDR_BITS, DATA_BITS

__all__ = ["HostBusSignature"]


class HostBusSignature(wiring.Signature):
    """Signature of the host bus, from the initiator's side (flip it for the target).

    Members
    -------
    addr : Out(32)
        Word address: ``addr[31:24]`` region, ``addr[23:0]`` offset (see ``regmap``).
    w_data : Out(64)
        Write data; signed quantities sign-extended to 64 bits.
    w_stb : Out(1)
        Write strobe: one write per cycle in which it is high.
    r_stb : Out(1)
        Read strobe: one read per cycle in which it is high.
    r_data : In(64)
        Read data, valid in the cycle ``r_ack`` is high (0 otherwise).
    r_ack : In(1)
        Read acknowledge, high exactly ``READ_LATENCY`` cycles after the ``r_stb`` it answers.
    """

    def __init__(self):
        super().__init__({
            "addr": Out(ADDR_BITS),
            "w_data": Out(DATA_BITS),
            "w_stb": Out(1),
            "r_stb": Out(1),
            "r_data": In(DATA_BITS),
            "r_ack": In(1),
        })

    def __eq__(self, other):
        return type(other) is type(self)

    def __repr__(self):
        return "HostBusSignature()"
