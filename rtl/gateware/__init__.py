"""The SPU gateware: Amaranth components built from :mod:`thermospu.rtl.spec`.

``SPUCore`` (:mod:`.core`) composes the datapath blocks (MAC engine, noise, cell integrators,
output quantizer, sample accumulators, step sequencer) behind a host bus; ``StreamSPU``
(:mod:`.protocol`) puts the wire protocol in front of it as byte streams.
"""
