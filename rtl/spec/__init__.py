"""The SPU's executable specification, pure Python (NumPy, no Amaranth).

* :mod:`.config` -- :class:`SPUConfig` and :class:`JobParams`: parameters, number formats, limits.
* :mod:`.regmap` -- the core's host-bus register map.
* :mod:`.wire` -- the wire protocol: commands, frames, statuses, the order of checks.
* :mod:`.golden` -- the bit-exact NumPy golden model of the fixed-point machine.
* :mod:`.emulator` -- the whole device (golden model behind the wire protocol), the oracle of
  the protocol tests and the ``model`` transport.
* :mod:`.fuzz` -- random and mutated frames for fuzzing any implementation of the protocol.

Everything else derives from these modules: the gateware (:mod:`thermospu.rtl.gateware`), the
driver (:mod:`thermospu.driver`) and the tests.
"""
