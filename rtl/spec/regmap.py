"""The SPU core's host-bus address map: pure Python, importable without Amaranth.

The gateware (:mod:`thermospu.rtl.gateware.core`) decodes these addresses and the driver's protocol
engine issues them; both take every number from here. ``docs/gateware.md`` is the prose version.

Addresses are 32-bit **word** addresses; every word is 64 bits. ``addr[31:24]`` selects a region,
``addr[23:0]`` is the offset inside it.

=======  ==========  ====================================================  ============
region   name        offset                                                access
=======  ==========  ====================================================  ============
0x00     registers   see the ``REG_*`` constants                           R/W
0x01     A           ``(i << row_bits) | j``, i, j < N  (:func:`a_address`) R/W idle
0x02     b           ``i``, i < N                                          R/W idle
0x03     seeds       ``4*i + word``, word 0..3 = x, y, z, w of cell i      R/W idle
0x04     sum_y       ``i``, i < N                                          R idle
0x05     sum_yy      ``(i << row_bits) | j``, i <= j < N                   R idle
=======  ==========  ====================================================  ============

``row_bits`` is :attr:`SPUConfig.log2_n` (``ceil(log2 N)``, at least 1), so for N a power of two
the A offset is the usual row-major ``i*N + j``. Signed quantities (a_q, b_q, sums) are
sign-extended to 64 bits when read and must be written sign-extended.

Rules (the gateware enforces them; each violation sets a sticky STATUS error bit):

* Writes complete in one cycle. A write while the core is busy is ignored
  (``STATUS_WRITE_WHILE_BUSY``), except a write to ``REG_CONTROL`` (abort and clear work while
  busy; start does not).
* A write of an out-of-range value (job register outside its range, an A/b code that is not a
  sign-extended ``a_bits``/``b_bits`` number, a seed word above 2**32-1) is ignored
  (``STATUS_BAD_VALUE``). Job registers therefore always hold valid parameters.
* An access to an unmapped address, or a write to a read-only one, is ignored and reads 0
  (``STATUS_BAD_ADDRESS``).
* Reads of regions 0x01...0x05 while busy return 0 (``STATUS_READ_WHILE_BUSY``): the engines own
  the memories' read ports during a run. Registers are readable at any time (COUNT, STEPS and
  SATURATIONS show progress).
* After a job (done or aborted) sum_y and sum_yy hold the accumulators of that job: entries
  outside its ``n_active`` (sum_y) or its upper triangle (sum_yy), and all entries when it took no
  sample (or, for sum_yy, ran with moments off), read 0. After an abort the sums hold the samples
  counted in COUNT.
* Reads are pipelined with a fixed latency: ``r_ack`` is high exactly :data:`READ_LATENCY` cycles
  after ``r_stb``, with ``r_data`` valid in that cycle; one read may be issued every cycle.
"""

from __future__ import annotations

from .config import SPUConfig, job_limits

ADDR_BITS = 32
DATA_BITS = 64
REGION_SHIFT = 24
OFFSET_BITS = 24
#: Cycles from ``r_stb`` to ``r_ack`` (and valid ``r_data``).
READ_LATENCY = 3

REGION_REGS = 0x00
REGION_A = 0x01
REGION_B = 0x02
REGION_SEEDS = 0x03
REGION_SUM_Y = 0x04
REGION_SUM_YY = 0x05

#: Value of ``REG_ID``: ASCII "SPU" and a format byte.
SPU_ID = 0x5350_5501
#: Value of ``REG_VERSION``; bumped whenever this map or the core's behaviour changes.
GATEWARE_VERSION = 2

# --- registers (region 0x00) -----------------------------------------------------------------
# Read-only information words: the machine's SPUConfig.
REG_ID = 0x00
REG_VERSION = 0x01
REG_N = 0x02
REG_LANES = 0x03
REG_A_BITS = 0x04
REG_B_BITS = 0x05
REG_X_BITS = 0x06
REG_OUT_BITS = 0x07
REG_SIGMA_BITS = 0x08
REG_MAX_SAMPLES_LOG2 = 0x09

#: info register -> SPUConfig field (REG_ID and REG_VERSION are not config fields).
INFO_REGISTERS = {
    REG_N: "n",
    REG_LANES: "lanes",
    REG_A_BITS: "a_bits",
    REG_B_BITS: "b_bits",
    REG_X_BITS: "x_bits",
    REG_OUT_BITS: "out_bits",
    REG_SIGMA_BITS: "sigma_bits",
    REG_MAX_SAMPLES_LOG2: "max_samples_log2",
}

# Job registers (read/write while idle): one per JobParams field except the seed, whose per-cell
# generator states the host writes into the seeds region instead.
REG_N_ACTIVE = 0x10
REG_K = 0x11
REG_B_SHIFT = 0x12
REG_SIGMA_Q = 0x13
REG_SIGMA_SHIFT = 0x14
REG_BURN_IN = 0x15
REG_SAMPLES = 0x16
REG_THIN = 0x17
REG_MOMENTS = 0x18

#: job register -> JobParams field.
JOB_REGISTERS = {
    REG_N_ACTIVE: "n_active",
    REG_K: "k",
    REG_B_SHIFT: "b_shift",
    REG_SIGMA_Q: "sigma_q",
    REG_SIGMA_SHIFT: "sigma_shift",
    REG_BURN_IN: "burn_in",
    REG_SAMPLES: "samples",
    REG_THIN: "thin",
    REG_MOMENTS: "moments",
}

#: Write-only command register (reads 0).
REG_CONTROL = 0x20
CONTROL_START = 1 << 0   #: start a job with the current registers and memories (idle only)
CONTROL_ABORT = 1 << 1   #: stop at the next Euler-step boundary; STATUS then says aborted
CONTROL_CLEAR = 1 << 2   #: clear DONE, ABORTED and the sticky error bits

# Read-only status and result registers.
REG_STATUS = 0x21
REG_COUNT = 0x22         #: samples accumulated by the current / last job
REG_SATURATIONS = 0x23   #: clamped cell updates (saturating at 2**32 - 1)
REG_STEPS = 0x24         #: Euler steps started by the current / completed by the last job
REG_CYCLES = 0x25        #: clock cycles from start to done of the current / last job

STATUS_BUSY = 1 << 0
STATUS_DONE = 1 << 1              #: last job finished (normally or aborted); cleared by start/clear
STATUS_ERROR = 1 << 2             #: OR of the sticky error bits below
STATUS_ABORTED = 1 << 3           #: last job was aborted
STATUS_WRITE_WHILE_BUSY = 1 << 8
STATUS_READ_WHILE_BUSY = 1 << 9
STATUS_BAD_ADDRESS = 1 << 10
STATUS_BAD_VALUE = 1 << 11

#: STATUS bit -> name, for messages.
STATUS_BITS = {
    STATUS_BUSY: "busy",
    STATUS_DONE: "done",
    STATUS_ERROR: "error",
    STATUS_ABORTED: "aborted",
    STATUS_WRITE_WHILE_BUSY: "write while busy",
    STATUS_READ_WHILE_BUSY: "read while busy",
    STATUS_BAD_ADDRESS: "bad address",
    STATUS_BAD_VALUE: "bad value",
}


def address(region: int, offset: int) -> int:
    """Word address of ``offset`` in ``region``."""
    if not 0 <= region < 256:
        raise ValueError(f"region {region} is not an 8-bit region code")
    if not 0 <= offset < (1 << OFFSET_BITS):
        raise ValueError(f"offset {offset} does not fit the {OFFSET_BITS}-bit offset field")
    return (region << REGION_SHIFT) | offset


def _row_bits(n: int) -> int:
    return SPUConfig(n=n, lanes=1).log2_n


def _check_cell(name: str, i: int, n: int) -> None:
    if not 0 <= i < n:
        raise ValueError(f"{name}={i} is not a cell index of an SPU with N={n}")


def a_address(i: int, j: int, n: int) -> int:
    """Address of coupling code a_q[i, j] on an SPU with ``n`` (= N) cells."""
    _check_cell("i", i, n)
    _check_cell("j", j, n)
    return address(REGION_A, (i << _row_bits(n)) | j)


def b_address(i: int) -> int:
    """Address of bias code b_q[i]."""
    return address(REGION_B, i)


def seed_address(i: int, word: int) -> int:
    """Address of word ``word`` (0..3 = x, y, z, w) of cell i's generator seed."""
    if not 0 <= word < 4:
        raise ValueError(f"seed word {word} is not one of 0..3 (x, y, z, w)")
    return address(REGION_SEEDS, 4 * i + word)


def sum_y_address(i: int) -> int:
    """Address of the first-moment accumulator sum_y[i]."""
    return address(REGION_SUM_Y, i)


def sum_yy_address(i: int, j: int, n: int) -> int:
    """Address of the second-moment accumulator sum_yy[i, j] (i <= j) on an SPU with N = ``n``."""
    _check_cell("i", i, n)
    _check_cell("j", j, n)
    if i > j:
        raise ValueError(f"sum_yy holds the upper triangle only: i={i} > j={j}")
    return address(REGION_SUM_YY, (i << _row_bits(n)) | j)


def job_register_range(field: str, config: SPUConfig) -> tuple[int, int]:
    """Inclusive range of values a job register accepts (others are refused with BAD_VALUE):
    the field's :data:`~thermospu.rtl.spec.config.JOB_LIMITS` entry on ``config``."""
    if field not in JOB_REGISTERS.values():
        raise KeyError(f"{field!r} is not a job register; known: {sorted(JOB_REGISTERS.values())}")
    return job_limits(config)[field]


def config_from_info(info: dict[int, int]) -> SPUConfig:
    """Rebuild the machine's :class:`SPUConfig` from its info registers (``{REG_N: value, ...}``)."""
    if info.get(REG_ID, SPU_ID) != SPU_ID:
        raise ValueError(f"REG_ID reads {info[REG_ID]:#x}, not the SPU id {SPU_ID:#x}")
    return SPUConfig(**{field: int(info[reg]) for reg, field in INFO_REGISTERS.items()})


def decode_status(status: int) -> list[str]:
    """Names of the STATUS bits set in ``status``."""
    return [name for bit, name in STATUS_BITS.items() if status & bit]


# --- the STATUS word as a bit-field table ----------------------------------------------------
#: STATUS (``REG_STATUS``) as bit fields, least significant first: (name, width in bits) or
#: (name, sub-table) for a group. The gateware builds its STATUS register from this table (an
#: ``amaranth.lib.data.StructLayout``, :func:`thermospu.rtl.gateware.register_file.status_layout`);
#: each one-bit field is the ``STATUS_<NAME>`` mask above (tests/test_spec_status_layout.py checks
#: that they agree). ``reserved`` fields read 0.
STATUS_ERROR_FIELDS = (
    ("write_while_busy", 1),
    ("read_while_busy", 1),
    ("bad_address", 1),
    ("bad_value", 1),
    ("reserved", 4),
)
STATUS_FIELDS = (
    ("busy", 1),
    ("done", 1),
    ("error", 1),
    ("aborted", 1),
    ("reserved", 4),
    ("errors", STATUS_ERROR_FIELDS),     # sticky until CONTROL_CLEAR; ``error`` is their OR
)


def bit_field_width(fields) -> int:
    """Width in bits of a bit-field table (:data:`STATUS_FIELDS` and its groups)."""
    return sum(bit_field_width(shape) if isinstance(shape, tuple) else shape
               for _, shape in fields)


def bit_field_offsets(fields, base: int = 0) -> dict[str, tuple[int, int]]:
    """Every leaf field of a bit-field table: dotted name (``"errors.bad_value"``) -> (lowest bit,
    width in bits). Reserved fields are left out."""
    offsets = {}
    for name, shape in fields:
        if isinstance(shape, tuple):
            offsets.update({f"{name}.{inner}": place
                            for inner, place in bit_field_offsets(shape, base).items()})
        elif name != "reserved":
            offsets[name] = (base, shape)
        base += bit_field_width(shape) if isinstance(shape, tuple) else shape
    return offsets
