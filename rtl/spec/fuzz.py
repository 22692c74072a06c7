"""Random and mutated request frames: the protocol fuzz used by the tests and for board bring-up.

:func:`fuzz_chunks` yields byte strings a hostile or broken host might send: well-formed frames
of every command with random (sometimes valid, mostly not) arguments, the same frames with bits
flipped, bytes dropped, inserted or cut off, their LEN or VERSION changed, and plain garbage.
A device passes when it answers every frame it sees with one well-formed response (or drops
garbage), never hangs, and still runs a valid job exactly afterwards.
"""

from __future__ import annotations

import random

from thermospu.rtl.spec import wire
from thermospu.rtl.spec.config import SPUConfig
from thermospu.rtl.spec.wire import Command

__all__ = ["fuzz_chunks", "random_request"]


def random_request(rng: random.Random, config: SPUConfig, capacity: int,
                   commands: tuple[int, ...]) -> tuple[int, bytes]:
    """A request (code, payload) with a plausible shape: right length for its command most of
    the time, indices around the valid range, SET_PARAMS sometimes valid (short jobs)."""
    fmt = wire.WireFormat.for_config(config)
    code = rng.choice(commands)
    n = config.n

    def index(limit):
        return rng.choice([0, 1, limit - 1, limit, limit + 1, rng.randrange(0x10000)]) & 0xFFFF

    layout = wire.REQUESTS.get(code)

    if code in (Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS):
        width = {Command.LOAD_A: fmt.a_bytes, Command.LOAD_B: fmt.b_bytes,
                 Command.LOAD_SEEDS: wire.SEEDS_BYTES_PER_CELL}[code]
        count = rng.randint(0, max(1, (capacity - layout.size) // width) + 1)
        first = index(n) if code == Command.LOAD_A else rng.choice([0, 0, 0, 1, 0xFFFF])
        payload = layout.pack(first, index(n)) + rng.randbytes(count * width)
        if rng.random() < 0.1:
            payload += rng.randbytes(rng.randint(1, width))        # a partial value
        return code, payload
    if code == Command.SET_PARAMS:
        if rng.random() < 0.5:
            fields = dict(n_active=rng.randint(1, n), chains=1, k=rng.randint(0, 8),
                          b_shift=0, sigma_shift=0, moments=rng.randint(0, 1),
                          sigma_q=rng.randrange(config.sigma_max_code + 1), thin=rng.randint(1, 3),
                          burn_in=rng.randint(0, 20), samples=rng.randint(1, 20))
            return code, layout.pack(**fields)
        return code, rng.randbytes(layout.size)
    if code == Command.READ_MEAN:
        return code, layout.pack(rng.choice([0, 0, 1]), index(n), index(n))
    if code == Command.READ_MOMENTS:
        m = n * (n + 1) // 2
        return code, layout.pack(rng.choice([0, 0, 1]), index(m), index(m))
    if code in wire.FIXED_REQUEST_BYTES:
        extra = rng.randbytes(rng.randint(1, 3)) if rng.random() < 0.1 else b""
        return code, extra
    return code, rng.randbytes(rng.randint(0, 12))              # an unknown command


def _mutate(rng: random.Random, frame: bytes, capacity: int) -> bytes:
    data = bytearray(frame)
    kind = rng.randrange(7)
    if kind == 0:                                   # bit flips anywhere
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:                                 # cut short (the line went quiet)
        del data[rng.randint(1, len(data) - 1):]
    elif kind == 2:                                 # a byte lost
        del data[rng.randrange(len(data))]
    elif kind == 3:                                 # a byte inserted
        data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
    elif kind == 4:                                 # LEN changed (CRC left as it was)
        header = wire.FRAME_HEADER.unpack_from(data)
        data[:wire.HEADER_BYTES] = wire.FRAME_HEADER.pack(*header._replace(length=rng.choice(
            [0, capacity, capacity + 1, wire.MAX_PAYLOAD, rng.randrange(capacity + 8)])))
    elif kind == 5:                                 # another protocol version
        data[1] = rng.choice([0, 2, 0xFF])
    else:                                           # payload replaced, CRC recomputed
        header = wire.FRAME_HEADER.unpack_from(data)
        payload = rng.randbytes(len(data) - wire.HEADER_BYTES - wire.CRC_BYTES)
        data = bytearray(wire.encode_frame(header.code, header.seq, payload,
                                           version=header.version))
    return bytes(data)


def fuzz_chunks(seed: int, count: int, config: SPUConfig, capacity: int,
                commands: tuple[int, ...] | None = None):
    """Yield ``count`` byte strings to send one after another (see the module docstring).

    Parameters
    ----------
    seed : int
        Reproduces the sequence.
    config : SPUConfig
        The device's machine (for plausible indices and widths).
    capacity : int
        The device's ``max_request_payload``.
    commands : tuple of int, optional
        Request codes to draw from; default every Command and three unknown codes.
    """
    rng = random.Random(seed)
    if commands is None:
        commands = tuple(Command) + (0x00, 0x42, 0xFF)
    for _ in range(count):
        code, payload = random_request(rng, config, capacity, commands)
        seq = rng.randrange(256)
        if len(payload) > wire.MAX_PAYLOAD:
            payload = payload[:wire.MAX_PAYLOAD]
        frame = wire.encode_frame(code, seq, payload)
        r = rng.random()
        if r < 0.4:
            yield frame
        elif r < 0.85:
            yield _mutate(rng, frame, capacity)
        elif r < 0.95:
            garbage = bytearray(rng.randbytes(rng.randint(1, 40)))
            if rng.random() < 0.5:
                garbage[rng.randrange(len(garbage))] = wire.SYNC
            yield bytes(garbage)
        else:
            yield _mutate(rng, frame, capacity) + frame
