"""thermospu gateware and its executable specification.

* :mod:`thermospu.rtl.config` -- :class:`SPUConfig`, the one source of truth for the SPU's
  parameters and number formats (no Amaranth import, cheap to load).
* :mod:`thermospu.rtl.golden` -- the bit-exact NumPy golden model of the fixed-point machine.
* The Amaranth components (``SPUCore`` and its blocks) live in the other modules of this package.
"""
