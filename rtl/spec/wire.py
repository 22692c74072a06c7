"""The SPU wire protocol: one definition shared by the host driver and the gateware.

Everything both ends must agree on lives here: frame layout, sync byte, protocol version,
command and status codes, the CRC, the payload layout of every command, and the byte widths of
the numbers on the wire. ``docs/protocol.md`` is the prose version of this module; the gateware
(:mod:`thermospu.rtl.gateware.protocol_engine`) and the host (:mod:`thermospu.driver.transports.protocol`)
both import their constants from here. No Amaranth import: the host needs none.

Frame (both directions, all multi-byte fields little-endian)::

    offset  size  field
    0       1     SYNC      0xA5
    1       1     VERSION   PROTOCOL_VERSION (the 6-byte header keeps this layout in every version)
    2       1     CODE      request: a Command; response: the request's code | 0x80
    3       1     SEQ       chosen by the host, echoed in the response
    4       2     LEN       payload length in bytes, 0 ... 65535
    6       LEN   PAYLOAD   request: the command's arguments; response: Status byte, then data
    6+LEN   4     CRC       CRC-32/ISO-HDLC (zlib's crc32) of bytes 1 ... 5+LEN

The device answers every frame it sees with exactly one response frame (errors included), and
sends nothing unasked. Checks, in this order, each answered with its Status and nothing done:

1. header read: VERSION != PROTOCOL_VERSION -> BAD_VERSION; LEN > the device's request capacity
   (``max_request_payload`` in INFO) -> FRAME_TOO_LONG. The device then hunts for the next SYNC
   without reading the payload.
2. the line goes quiet mid-frame (the gateware counts ``idle_timeout`` clock cycles; the in-process
   device is told by its link) -> TRUNCATED, echoing whatever CODE and SEQ arrived (0 otherwise);
3. CRC mismatch -> BAD_CRC. Nothing of a frame takes effect before its CRC has been checked.
4. CODE not a Command -> UNKNOWN_COMMAND; LEN wrong for the command -> BAD_LENGTH; a job is
   running and the command needs the device idle -> BUSY; an argument out of range ->
   BAD_ARGUMENT; a precondition unmet (RUN before SET_PARAMS, READ_* with no finished job, or
   READ_MOMENTS of a job without moments) -> NOT_READY.

The host treats BAD_CRC, TRUNCATED, FRAME_TOO_LONG and BAD_VERSION (which a corrupted byte can
cause) and a missing answer as link errors and retries; the other statuses are the device's word
on a frame it received intact, so retrying cannot help.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import struct
import zlib

import numpy as np

from .config import K_MAX, JobParams, SPUConfig

__all__ = [
    "PROTOCOL_VERSION", "SYNC", "HEADER_BYTES", "CRC_BYTES", "RESPONSE_FLAG", "MAX_PAYLOAD",
    "CRC_ALGORITHM", "CRC_PARAMETERS", "crc32",
    "Command", "Status", "JobState", "LINK_ERRORS", "COMMANDS_NEEDING_IDLE",
    "Frame", "encode_frame", "FrameDecoder",
    "WireFormat", "DeviceInfo", "JobStatus",
    "pack_signed", "unpack_signed",
    "SEEDS_BYTES_PER_CELL", "INDEX_BYTES", "SET_PARAMS_LAYOUT", "SET_PARAMS_BYTES",
    "encode_params", "decode_params", "encode_info", "decode_info",
    "encode_status", "decode_status", "sign_extend", "params_error",
    "FIXED_REQUEST_BYTES", "LOAD_HEADER_BYTES", "READ_MEAN_HEADER_BYTES",
]

PROTOCOL_VERSION = 1
SYNC = 0xA5
#: SYNC, VERSION, CODE, SEQ, LEN (2 bytes).
HEADER_BYTES = 6
CRC_BYTES = 4
#: Set in the CODE of every response.
RESPONSE_FLAG = 0x80
#: LEN is 16 bits.
MAX_PAYLOAD = 0xFFFF

#: The CRC: name in the catalogue of parametrised CRCs (Greg Cook's, used by amaranth.lib.crc).
CRC_ALGORITHM = "CRC-32/ISO-HDLC"
#: Its parameters, as amaranth.lib.crc.Algorithm takes them; gateware_tests check that the
#: gateware's CRC and :func:`crc32` agree.
CRC_PARAMETERS = dict(crc_width=32, polynomial=0x04C11DB7, initial_crc=0xFFFFFFFF,
                      reflect_input=True, reflect_output=True, xor_output=0xFFFFFFFF)


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC of ``data`` (the frame's bytes 1 ... 5+LEN)."""
    return zlib.crc32(data)


class Command(enum.IntEnum):
    """Request codes. Payload layouts (little-endian) are in docs/protocol.md and below."""

    #: () -> DeviceInfo (:func:`encode_info`).
    INFO = 0x01
    #: (row u16, col u16, a codes...) -> (). Writes consecutive row-major cells of the N x N
    #: memory from A[row, col] on (continuing into the next rows).
    LOAD_A = 0x02
    #: (chain u16, start u16, b codes...) -> (). Writes b of chain ``chain``, cells start ...
    LOAD_B = 0x03
    #: (chain u16, start u16, 16 bytes per cell: x, y, z, w u32) -> (). Generator states.
    LOAD_SEEDS = 0x04
    #: (SET_PARAMS_LAYOUT) -> (). The job registers; validated as JobParams.validate does.
    SET_PARAMS = 0x05
    #: () -> (). Starts the job; cells start from x = 0 and from the loaded generator states.
    RUN = 0x06
    #: () -> JobStatus (:func:`encode_status`).
    STATUS = 0x07
    #: (chain u16, start u16, count u16) -> (saturations u32, sum_y codes...).
    READ_MEAN = 0x08
    #: (chain u16, start u32, count u16) -> (sum_yy codes...), upper triangle row-major.
    READ_MOMENTS = 0x09
    #: () -> (). Stops a running job (state ABORTED); harmless when idle.
    ABORT = 0x0A
    #: () -> (). Stops any job, forgets the job registers (state IDLE). Memories keep contents.
    RESET = 0x0B


class Status(enum.IntEnum):
    """First payload byte of every response."""

    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02
    UNKNOWN_COMMAND = 0x03
    BAD_VERSION = 0x04
    BAD_ARGUMENT = 0x05
    BUSY = 0x06
    NOT_READY = 0x07
    TRUNCATED = 0x08
    FRAME_TOO_LONG = 0x09


#: Statuses a corrupted or lost byte can cause (they are decided before the CRC is checked):
#: the host retries these.
LINK_ERRORS = frozenset({Status.BAD_CRC, Status.TRUNCATED, Status.FRAME_TOO_LONG,
                         Status.BAD_VERSION})

#: Commands refused with BUSY while a job runs (they would change or read a job in progress).
COMMANDS_NEEDING_IDLE = frozenset({Command.LOAD_A, Command.LOAD_B, Command.LOAD_SEEDS,
                                   Command.SET_PARAMS, Command.RUN, Command.READ_MEAN,
                                   Command.READ_MOMENTS})


class JobState(enum.IntEnum):
    """The job state machine reported by STATUS."""

    IDLE = 0      # no job since reset
    RUNNING = 1
    DONE = 2      # results readable
    ABORTED = 3


@dataclasses.dataclass(frozen=True)
class Frame:
    """One decoded frame: ``code`` (Command, or Command | RESPONSE_FLAG), ``seq``, ``payload``."""

    code: int
    seq: int
    payload: bytes
    version: int = PROTOCOL_VERSION

    @property
    def status(self) -> int:
        """Status byte of a response (its first payload byte)."""
        return self.payload[0]


def encode_frame(code: int, seq: int, payload: bytes = b"", version: int = PROTOCOL_VERSION) -> bytes:
    """The bytes of one frame (any direction)."""
    if not 0 <= code <= 0xFF or not 0 <= seq <= 0xFF:
        raise ValueError(f"code {code} and seq {seq} must be bytes")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte limit")
    body = bytes((version, code, seq)) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes((SYNC,)) + body + struct.pack("<I", crc32(body))


class FrameDecoder:
    """Incremental frame parser for the host: feed bytes, collect intact frames.

    Garbage, frames of another version, over-long and CRC-failing frames are skipped; after a
    failed candidate the search resumes one byte after its SYNC, so a lost or corrupted byte
    costs at most the frame it hit.

    Parameters
    ----------
    max_payload : int
        Longest payload accepted (a longer LEN is taken as a corrupted header).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        self.max_payload = max_payload
        self._buffer = bytearray()
        #: Candidate frames dropped (bad version, length or CRC): a measure of line noise.
        self.rejected = 0

    def clear(self) -> None:
        self._buffer.clear()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        buf = self._buffer
        while True:
            start = buf.find(SYNC)
            if start < 0:
                buf.clear()
                break
            del buf[:start]
            if len(buf) < HEADER_BYTES:
                break
            length = buf[4] | (buf[5] << 8)
            if buf[1] != PROTOCOL_VERSION or length > self.max_payload:
                self.rejected += 1
                del buf[:1]
                continue
            end = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < end:
                break
            body = bytes(buf[1:HEADER_BYTES + length])
            (crc,) = struct.unpack_from("<I", buf, HEADER_BYTES + length)
            if crc != crc32(body):
                self.rejected += 1
                del buf[:1]
                continue
            frames.append(Frame(code=buf[2], seq=buf[3], payload=bytes(buf[HEADER_BYTES:end - CRC_BYTES])))
            del buf[:end]
        return frames


# --- numbers on the wire -------------------------------------------------------------------

#: Bytes of an index field (row, col, chain, start, count) unless stated otherwise.
INDEX_BYTES = 2
#: A cell's generator state: x, y, z, w as u32 each.
SEEDS_BYTES_PER_CELL = 16


def _bytes_for(bits: int) -> int:
    return math.ceil(bits / 8)


@dataclasses.dataclass(frozen=True)
class WireFormat:
    """Byte widths of the numbers on the wire for one machine (signed, little-endian, the
    value's two's complement sign-extended to whole bytes)."""

    a_bytes: int        # coupling code (a_bits)
    b_bytes: int        # bias code (b_bits)
    sum_y_bytes: int    # first-moment accumulator (sum_x_bits)
    sum_yy_bytes: int   # second-moment accumulator (sum_xx_bits)

    @classmethod
    def for_config(cls, config: SPUConfig) -> "WireFormat":
        return cls(a_bytes=_bytes_for(config.a_bits), b_bytes=_bytes_for(config.b_bits),
                   sum_y_bytes=_bytes_for(config.sum_x_bits),
                   sum_yy_bytes=_bytes_for(config.sum_xx_bits))


def pack_signed(values, nbytes: int) -> bytes:
    """Integers -> ``nbytes``-byte little-endian two's complement each (1 <= nbytes <= 8).
    Values must fit; they are not checked here (the host validates codes before packing)."""
    v = np.ascontiguousarray(np.asarray(values, dtype="<i8")).ravel()
    return v.view(np.uint8).reshape(-1, 8)[:, :nbytes].tobytes()


def unpack_signed(data: bytes, nbytes: int) -> np.ndarray:
    """Inverse of :func:`pack_signed`: int64 array, sign-extended from ``8 * nbytes`` bits."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % nbytes:
        raise ValueError(f"{raw.size} bytes is not a whole number of {nbytes}-byte values")
    wide = np.zeros((raw.size // nbytes, 8), dtype=np.uint8)
    wide[:, :nbytes] = raw.reshape(-1, nbytes)
    out = wide.view("<i8").ravel().copy()
    if nbytes < 8:
        shift = 64 - 8 * nbytes
        out = (out << shift) >> shift
    return out


def sign_extend(value: int, bits: int) -> int:
    """The ``bits``-bit two's complement integer whose low bits are ``value``'s."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# --- SET_PARAMS ----------------------------------------------------------------------------

#: SET_PARAMS payload: (field, struct format), little-endian, in order.
SET_PARAMS_LAYOUT = (
    ("n_active", "H"), ("chains", "H"), ("k", "B"), ("b_shift", "B"), ("sigma_shift", "B"),
    ("moments", "B"), ("sigma_q", "I"), ("thin", "H"), ("burn_in", "I"), ("samples", "Q"),
)
_SET_PARAMS_STRUCT = struct.Struct("<" + "".join(f for _, f in SET_PARAMS_LAYOUT))
SET_PARAMS_BYTES = _SET_PARAMS_STRUCT.size


def encode_params(params: JobParams, chains: int) -> bytes:
    """SET_PARAMS payload for ``chains`` chains sharing ``params`` (its seed is not sent: the
    generator states go by LOAD_SEEDS)."""
    fields = dict(params.to_dict(), chains=chains, moments=int(params.moments))
    return _SET_PARAMS_STRUCT.pack(*(fields[name] for name, _ in SET_PARAMS_LAYOUT))


def decode_params(payload: bytes) -> dict:
    """SET_PARAMS payload -> dict of its fields (raw integers, unchecked)."""
    return dict(zip((name for name, _ in SET_PARAMS_LAYOUT), _SET_PARAMS_STRUCT.unpack(payload)))


def params_error(fields: dict, config: SPUConfig, max_chains: int) -> str | None:
    """Why the device must refuse these SET_PARAMS fields (BAD_ARGUMENT), or None: the same
    limits as :meth:`JobParams.validate` plus the chain count. The gateware implements exactly
    these comparisons."""
    sigma_shift_max = JobParams(1, 0, 0, 0, 0, 0, 1).sigma_shift_max(config)
    limits = {
        "n_active": (1, config.n), "chains": (1, max_chains), "k": (0, K_MAX),
        "b_shift": (0, config.b_shift_max), "sigma_shift": (0, sigma_shift_max),
        "moments": (0, 1), "sigma_q": (0, config.sigma_max_code), "thin": (1, 0xFFFF),
        "burn_in": (0, 0xFFFFFFFF), "samples": (1, config.max_samples),
    }
    for name, (lo, hi) in limits.items():
        if not lo <= fields[name] <= hi:
            return f"{name}={fields[name]} outside [{lo}, {hi}]"
    return None


# --- INFO ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DeviceInfo:
    """What INFO reports: the machine, the device's limits and who built it.

    Attributes
    ----------
    config : SPUConfig
    gateware_version : int
        Version of the gateware (or emulator) answering; major << 8 | minor.
    max_chains : int
        Independent chains one job can run (each with its own b and generator states).
    max_request_payload : int
        Longest request payload the device buffers (bytes).
    clock_hz : int
        The core's clock in Hz; 0 where there is no physical clock (emulated, simulated).
    board : str
        Board name, ASCII, at most 255 characters (e.g. "model", "sim:icarus", "icebreaker").
    """

    config: SPUConfig
    gateware_version: int
    max_chains: int
    max_request_payload: int
    clock_hz: int
    board: str


_INFO_STRUCT = struct.Struct("<BHHHBBBBBBHHIB")


def encode_info(info: DeviceInfo) -> bytes:
    c = info.config
    name = info.board.encode("ascii")
    if len(name) > 255:
        raise ValueError("board name longer than 255 characters")
    return _INFO_STRUCT.pack(PROTOCOL_VERSION, info.gateware_version, c.n, c.lanes, c.a_bits,
                             c.b_bits, c.x_bits, c.out_bits, c.sigma_bits, c.max_samples_log2,
                             info.max_chains, info.max_request_payload, info.clock_hz,
                             len(name)) + name


def decode_info(data: bytes) -> DeviceInfo:
    """INFO response data (after the status byte) -> DeviceInfo. Raises ValueError if malformed."""
    if len(data) < _INFO_STRUCT.size:
        raise ValueError(f"INFO data of {len(data)} bytes is shorter than {_INFO_STRUCT.size}")
    (version, gw, n, lanes, a_bits, b_bits, x_bits, out_bits, sigma_bits, max_samples_log2,
     max_chains, max_request, clock_hz, name_len) = _INFO_STRUCT.unpack_from(data)
    if version != PROTOCOL_VERSION:
        raise ValueError(f"device speaks protocol version {version}, host {PROTOCOL_VERSION}")
    name = data[_INFO_STRUCT.size:]
    if len(name) != name_len:
        raise ValueError(f"INFO board name of {len(name)} bytes, header says {name_len}")
    config = SPUConfig(n=n, lanes=lanes, a_bits=a_bits, b_bits=b_bits, x_bits=x_bits,
                       out_bits=out_bits, sigma_bits=sigma_bits, max_samples_log2=max_samples_log2)
    return DeviceInfo(config, gw, max_chains, max_request, clock_hz, name.decode("ascii"))


# --- STATUS --------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class JobStatus:
    """What STATUS reports: job state, Euler steps run so far and samples accumulated."""

    state: JobState
    steps: int
    samples: int


_STATUS_STRUCT = struct.Struct("<BQQ")


def encode_status(status: JobStatus) -> bytes:
    return _STATUS_STRUCT.pack(status.state, status.steps, status.samples)


def decode_status(data: bytes) -> JobStatus:
    if len(data) != _STATUS_STRUCT.size:
        raise ValueError(f"STATUS data of {len(data)} bytes, expected {_STATUS_STRUCT.size}")
    state, steps, samples = _STATUS_STRUCT.unpack(data)
    return JobStatus(JobState(state), steps, samples)


# --- request payload lengths ---------------------------------------------------------------

#: Fixed request payload lengths (LOAD_* are 4 + k * width with k >= 1).
FIXED_REQUEST_BYTES = {
    Command.INFO: 0, Command.SET_PARAMS: SET_PARAMS_BYTES, Command.RUN: 0, Command.STATUS: 0,
    Command.READ_MEAN: 6, Command.READ_MOMENTS: 8, Command.ABORT: 0, Command.RESET: 0,
}
#: Bytes before the values of LOAD_A / LOAD_B / LOAD_SEEDS and of a READ_MEAN response.
LOAD_HEADER_BYTES = 4
READ_MEAN_HEADER_BYTES = 4  # saturations u32
