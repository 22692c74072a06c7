"""thermospu's device: its executable specification, its gateware and the simulation tooling.

* :mod:`thermospu.rtl.spec` -- pure Python: :class:`SPUConfig` (parameters, formats, limits), the
  register map, the wire protocol, the bit-exact golden model and the device emulator.
* :mod:`thermospu.rtl.gateware` -- the Amaranth components (``SPUCore``, ``StreamSPU``, blocks).
* :mod:`thermospu.rtl.sim` -- running the gateware in Icarus/Verilator under cocotb.

Layers point one way: spec <- gateware <- sim; nothing here imports the driver or host_kfac.
"""
