"""A frame cut short is answered TRUNCATED by every transport, byte for byte as ``model`` does
(docs/protocol.md: "exactly one response per frame"); the simulated gateware used to drop that
answer (the bridge clocked it out while nobody read ``tx_bytes``).

``sim:*`` skip without their simulator, or fail under THERMOSPU_REQUIRE_SIMULATORS=1.
"""

from __future__ import annotations

import os
import time

import pytest

from thermospu.driver.transports import open_backend
from thermospu.rtl.spec import wire
from thermospu.rtl.spec.wire import Command, Status

#: The machine of tests/test_driver_transports.py (its simulations are cached).
CONFIG = dict(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)
#: (frame, bytes of it sent): a cut in the header, in the payload and in the CRC.
CUTS = [(wire.encode_frame(Command.INFO, 12), cut) for cut in (1, 3, 5, 8)] + [
    (wire.encode_frame(Command.LOAD_A, 77, wire.LOAD_A_REQUEST.pack(0, 0) + bytes(8)), cut)
    for cut in (6, 9, 19)]


def _answer(backend, data: bytes, seconds: float = 20.0) -> bytes:
    """Write ``data`` on the backend's link; every byte that comes back until a whole frame
    has (or ``seconds`` pass)."""
    backend.link.write(data)
    got, deadline = b"", time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += backend.link.read(0.2)
        if wire.FrameDecoder().feed(got):
            break
    return got


@pytest.fixture(scope="module")
def model_answers():
    backend = open_backend("model", **CONFIG)
    yield [_answer(backend, frame[:cut]) for frame, cut in CUTS]
    backend.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("uri", ["model", "sim:icarus", "sim:verilator"])
def test_a_cut_frame_is_answered_truncated_as_the_model_answers_it(uri, model_answers):
    if uri.startswith("sim:"):
        from thermospu.rtl.sim.runner import missing_simulator_reason

        reason = missing_simulator_reason(uri.split(":")[1])
        if reason:
            if os.environ.get("THERMOSPU_REQUIRE_SIMULATORS") == "1":
                pytest.fail(f"THERMOSPU_REQUIRE_SIMULATORS=1 but: {reason}")
            pytest.skip(reason)
    backend = open_backend(uri, **CONFIG)
    try:
        for (frame, cut), expected in zip(CUTS, model_answers):
            got = _answer(backend, frame[:cut])
            (response,) = wire.FrameDecoder().feed(expected)
            assert response.status == Status.TRUNCATED
            assert got == expected, (uri, frame[:cut].hex())
            assert backend.client.request(Command.INFO)      # the device answers afterwards
    finally:
        backend.close()
