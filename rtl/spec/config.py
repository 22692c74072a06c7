"""SPU parameters and number formats: the one source of truth.

Everything that the golden model, the gateware, the driver and the docs need to agree on is
derived here from :class:`SPUConfig` (the machine: sizes and bit widths, fixed when the gateware
is built) and :class:`JobParams` (one run: step size, noise, sample counts, seed, loaded per job).
``docs/spu.md`` explains the formats; this module is what enforces them.

Number formats (all two's complement, ``Q1.f`` means one sign/integer bit and ``f`` fraction bits,
so the real value lies in ``[-1, 1)``):

==============  ==========================  =================================================
quantity        integer held by the SPU     real value in device units
==============  ==========================  =================================================
coupling A      ``a_q``, ``a_bits`` signed   ``a_q * 2**-fa``,  ``fa = a_bits - 1``   (Q1.fa)
bias b          ``b_q``, ``b_bits`` signed   ``b_q * 2**(b_shift - fa - fx)``
state x         ``x_q``, ``x_bits`` signed   ``x_q * 2**-fx``,  ``fx = x_bits - 1``   (Q1.fx)
output y (ADC)  ``y_q``, ``out_bits`` signed ``y_q * 2**-fy``,  ``fy = out_bits - 1`` (Q1.fy)
noise amplitude ``sigma_q``, unsigned        ``sigma = sigma_q * G_STD * 2**(sigma_shift - fa - fx - k)``
==============  ==========================  =================================================
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

__all__ = [
    "ConfigError",
    "SPUConfig",
    "JobParams",
    "G_STD",
    "G_MAX",
    "K_MAX",
    "BURN_IN_BITS",
    "THIN_BITS",
    "JobLimit",
    "JOB_LIMITS",
    "job_limits",
]

#: Largest magnitude of the per-cell Gaussian approximation g (sum of four bytes minus 510).
G_MAX = 510
#: Standard deviation of g: four independent uniform bytes, variance 4 * (256**2 - 1) / 12.
G_STD = math.sqrt(4 * (256**2 - 1) / 12)

# Widths of the gateware's job registers that are not derived from the machine (docs/spu.md,
# "A job"); :data:`JOB_LIMITS` turns them into bounds.
BURN_IN_BITS = 32
THIN_BITS = 16
#: Largest step-size exponent k (h = 2**-k).
K_MAX = 24


class ConfigError(ValueError):
    """An SPU configuration or job parameter is outside what the machine can hold."""


def _check_int(name: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value} is out of range [{lo}, {hi}]")


@dataclasses.dataclass(frozen=True)
class SPUConfig:
    """The machine: cell count, MAC lanes and bit widths, fixed when the gateware is built.

    Parameters
    ----------
    n : int
        Number of cells N, i.e. the largest problem size the SPU holds (1 ... 4096).
    lanes : int, optional
        Parallel multiply-accumulate lanes P of the gateware (1 ... N; default min(4, N)). The
        golden model does not depend on it; it sets the gateware's cycles per Euler step, about
        ceil(N**2 / P).
    a_bits : int
        Width of a coupling-matrix entry (the input DAC), signed Q1.(a_bits-1). 2 ... 18.
    b_bits : int
        Width of a bias entry, signed; its scale is set per job by ``b_shift``. 2 ... 24.
    x_bits : int
        Width of a cell's state register, signed Q1.(x_bits-1). The bits below the output
        width are the integrator's guard bits. 4 ... 32, and >= out_bits.
    out_bits : int
        Width of the output quantizer (the ADC) feeding the sample accumulators, signed
        Q1.(out_bits-1). 2 ... 20.
    sigma_bits : int
        Width of the unsigned noise-amplitude mantissa ``sigma_q``. 1 ... 20.
    max_samples_log2 : int
        log2 of the largest sample count per job; sets the accumulator widths so that they
        cannot overflow (see :attr:`sum_x_bits`, :attr:`sum_xx_bits`).
    """

    n: int = 256
    lanes: int | None = None
    a_bits: int = 16
    b_bits: int = 16
    x_bits: int = 24
    out_bits: int = 16
    sigma_bits: int = 16
    max_samples_log2: int = 24

    def __post_init__(self):
        _check_int("n", self.n, 1, 4096)
        if self.lanes is None:
            object.__setattr__(self, "lanes", min(4, self.n))
        _check_int("lanes", self.lanes, 1, self.n)
        _check_int("a_bits", self.a_bits, 2, 18)
        _check_int("b_bits", self.b_bits, 2, 24)
        _check_int("x_bits", self.x_bits, 4, 32)
        _check_int("out_bits", self.out_bits, 2, 20)
        _check_int("sigma_bits", self.sigma_bits, 1, 20)
        _check_int("max_samples_log2", self.max_samples_log2, 1, 32)
        if self.out_bits > self.x_bits:
            raise ConfigError(
                f"out_bits={self.out_bits} exceeds x_bits={self.x_bits}: the ADC reads the top "
                f"bits of the state register"
            )
        if self.sum_xx_bits > 64:
            raise ConfigError(
                f"second-moment accumulator needs 2*out_bits + max_samples_log2 = "
                f"{self.sum_xx_bits} bits, more than the 64 the host reads; lower out_bits or "
                f"max_samples_log2"
            )
        if self.fine_bits > 64:
            raise ConfigError(
                f"the integrator's pre-rounding sum needs {self.fine_bits} bits (> 64) for "
                f"n={self.n}, a_bits={self.a_bits}, x_bits={self.x_bits}, b_bits={self.b_bits}; "
                f"lower n or the widths"
            )

    # --- derived formats -------------------------------------------------------------------
    @property
    def fa(self) -> int:
        """Fraction bits of a coupling entry (Q1.fa)."""
        return self.a_bits - 1

    @property
    def fx(self) -> int:
        """Fraction bits of the state (Q1.fx)."""
        return self.x_bits - 1

    @property
    def fy(self) -> int:
        """Fraction bits of the output quantizer (Q1.fy)."""
        return self.out_bits - 1

    @property
    def a_max_code(self) -> int:
        return (1 << self.fa) - 1

    @property
    def b_max_code(self) -> int:
        return (1 << (self.b_bits - 1)) - 1

    @property
    def x_max_code(self) -> int:
        return (1 << self.fx) - 1

    @property
    def x_min_code(self) -> int:
        return -(1 << self.fx)

    @property
    def y_max_code(self) -> int:
        return (1 << self.fy) - 1

    @property
    def y_min_code(self) -> int:
        return -(1 << self.fy)

    @property
    def sigma_max_code(self) -> int:
        return (1 << self.sigma_bits) - 1

    @property
    def adc_shift(self) -> int:
        """Bits dropped (with rounding) from the state by the output quantizer."""
        return self.x_bits - self.out_bits

    @property
    def log2_n(self) -> int:
        """ceil(log2(n)), at least 1: the growth in bits of a sum over n cells."""
        return max(1, math.ceil(math.log2(self.n)))

    @property
    def b_shift_max(self) -> int:
        """Largest ``b_shift``. It lets |b| reach about n in device units, the most |A x| can
        be with |a| <= 1 and |x| <= 1; a larger b could only drive the state into saturation."""
        return max(0, self.fa + self.fx + self.log2_n + 1 - self.b_bits)

    @property
    def fine_bits(self) -> int:
        """Signed width of the integrator's pre-rounding sum ``-(acc - (b_q << b_shift)) + noise``.

        |acc| <= n * 2**(fa+fx) <= 2**(fa+fx+log2_n) and |b_q << b_shift| <= 2**(b_bits-1+b_shift_max);
        each is < 2**(fine_bits-3), and the noise term is kept < 2**(fine_bits-2) by
        :attr:`sigma_shift_max` (fine_bits >= sigma_bits + 11 so that it can be even at
        sigma_shift 0), so the sum is < 2**(fine_bits-1) and never wraps.
        """
        # The noise term (< 2**(sigma_bits + 9) at sigma_shift 0) must fit below 2**(fine_bits-2)
        # too, which matters for narrow machines with a wide noise mantissa.
        return max(max(self.fa + self.fx + self.log2_n, self.b_bits - 1 + self.b_shift_max) + 3,
                   self.sigma_bits + 11)

    @property
    def sigma_shift_max(self) -> int:
        """Largest noise exponent ``sigma_shift``: the noise term ``(sigma_q * g) << sigma_shift``
        may be at most as wide as the fine sum allows (< 2**(fine_bits - 2))."""
        # |sigma_q * g| < 2**(sigma_bits + 9) since |g| <= 510 < 2**9.
        return max(0, self.fine_bits - 2 - self.sigma_bits - G_MAX.bit_length())

    @property
    def sum_x_bits(self) -> int:
        """Signed width of each first-moment accumulator: |sum y| <= 2**(fy + max_samples_log2)."""
        return self.out_bits + self.max_samples_log2

    @property
    def sum_xx_bits(self) -> int:
        """Signed width of each second-moment accumulator: y_i*y_j <= 2**(2*fy), times samples."""
        return 2 * self.out_bits + self.max_samples_log2

    @property
    def n_moments(self) -> int:
        """Number of second-moment accumulators: the upper triangle, n*(n+1)/2."""
        return self.n * (self.n + 1) // 2

    @property
    def max_samples(self) -> int:
        return 1 << self.max_samples_log2

    @property
    def max_job_steps(self) -> int:
        """Most Euler steps one job can run: the largest burn-in plus the most samples at the
        largest thinning. Sizes the STEPS counter (and with it CYCLES) exactly."""
        return (1 << BURN_IN_BITS) - 1 + self.max_samples * ((1 << THIN_BITS) - 1)

    @property
    def blas_exact(self) -> bool:
        """True when float64 sums of a_q*x_q products are exact: every partial sum of a row is
        bounded by n * 2**(fa+fx) <= 2**(fa+fx+log2_n), exactly representable below 2**53."""
        return self.fa + self.fx + self.log2_n <= 53

    def fxp_dtype(self, quantity: str) -> str:
        """fxpmath's name of a quantity's format, e.g. ``"fxp-s16/15"`` for the coupling entries.

        ``quantity`` is one of "a" (coupling), "x" (state), "y" (output). For describing and
        checking formats (``fxpmath.Fxp(value, dtype=...)``); the golden model does not use it.
        """
        bits = {"a": self.a_bits, "x": self.x_bits, "y": self.out_bits}
        if quantity not in bits:
            raise ConfigError(f"unknown quantity {quantity!r}; one of {sorted(bits)}")
        return f"fxp-s{bits[quantity]}/{bits[quantity] - 1}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "SPUConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ConfigError(f"unknown SPUConfig field(s): {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class JobParams:
    """One run of the SPU: what the host loads besides A and b.

    Parameters
    ----------
    n_active : int
        Cells taking part (1 ... N): the problem size. Cells >= n_active are idle.
    k : int
        Step size h = 2**-k (0 ... 24).
    b_shift : int
        Left shift aligning ``b_q`` with the coupling sum: b = b_q * 2**(b_shift - fa - fx).
    sigma_q : int
        Noise amplitude mantissa, unsigned ``sigma_bits`` wide (0 turns the noise off).
    sigma_shift : int
        Noise amplitude exponent: the per-step noise added to the fine sum is
        ``(sigma_q * g) << sigma_shift``, g the per-cell Gaussian approximation.
    burn_in : int
        Euler steps run before the first sample (0 ... 2**32 - 1).
    samples : int
        Samples accumulated (1 ... 2**max_samples_log2).
    thin : int
        Euler steps between samples (1 ... 2**16 - 1).
    moments : bool
        Accumulate the second moments (upper triangle of sum y y^T) as well as sum y.
    seed : int
        64-bit job seed; each cell's generator state is derived from it (docs/spu.md).
    """

    n_active: int
    k: int
    b_shift: int
    sigma_q: int
    sigma_shift: int
    burn_in: int
    samples: int
    thin: int = 1
    moments: bool = True
    seed: int = 0

    @property
    def steps(self) -> int:
        """Euler steps this job runs: burn_in + samples * thin."""
        return self.burn_in + self.samples * self.thin

    def validate(self, config: SPUConfig) -> "JobParams":
        """Return self if every field lies within :data:`JOB_LIMITS` for ``config``; raise
        :class:`ConfigError` naming the first field that does not."""
        for limit in JOB_LIMITS:
            value = getattr(self, limit.name)
            if limit.kind is bool:
                if not isinstance(value, bool):
                    raise ConfigError(f"{limit.name} must be a bool, got {value!r}")
            else:
                _check_int(limit.name, value, *limit.bounds(config))
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class JobLimit:
    """The range of one :class:`JobParams` field: the one definition that config validation,
    the job registers' range checks (:func:`~thermospu.rtl.spec.regmap.job_register_range`),
    the SET_PARAMS check (:func:`~thermospu.rtl.spec.wire.params_error`) and the gateware's
    checks all derive from.

    Attributes
    ----------
    name : str
        The JobParams field (and SET_PARAMS field and job register of the same name).
    lo : int
        Smallest value.
    hi : int or callable
        Largest value: a constant, or a function of the :class:`SPUConfig` for bounds that the
        machine sets.
    kind : type
        ``int``, or ``bool`` for a flag (0 or 1 on the wire and in its register).
    """

    name: str
    lo: int
    hi: int | Callable[[SPUConfig], int]
    kind: type = int

    def bounds(self, config: SPUConfig) -> tuple[int, int]:
        """Inclusive ``(lo, hi)`` for ``config``."""
        hi = self.hi(config) if callable(self.hi) else self.hi
        return self.lo, hi


#: Every job parameter's range, in the order :meth:`JobParams.validate` checks them
#: (docs/spu.md, "A job").
JOB_LIMITS = (
    JobLimit("n_active", 1, lambda config: config.n),
    JobLimit("k", 0, K_MAX),
    JobLimit("b_shift", 0, lambda config: config.b_shift_max),
    JobLimit("sigma_q", 0, lambda config: config.sigma_max_code),
    JobLimit("sigma_shift", 0, lambda config: config.sigma_shift_max),
    JobLimit("burn_in", 0, (1 << BURN_IN_BITS) - 1),
    JobLimit("samples", 1, lambda config: config.max_samples),
    JobLimit("thin", 1, (1 << THIN_BITS) - 1),
    JobLimit("seed", 0, (1 << 64) - 1),
    JobLimit("moments", 0, 1, kind=bool),
)


def job_limits(config: SPUConfig) -> dict[str, tuple[int, int]]:
    """Field name -> inclusive ``(lo, hi)`` of every job parameter on ``config``
    (:data:`JOB_LIMITS` evaluated)."""
    return {limit.name: limit.bounds(config) for limit in JOB_LIMITS}
