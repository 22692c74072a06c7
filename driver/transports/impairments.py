"""An imprecise analog SPU in front of any transport: fixed-pattern mismatch, DAC and ADC errors,
noise-temperature spread (docs/spu.md, "Analog impairments").

:class:`ImpairedBackend` wraps a :class:`~.base.Backend` on the host side: it perturbs the codes
of every job before they are sent and transforms the accumulators of every answer after they
come back, so the same impaired chip can be emulated (``model``), simulated (``sim:*``) or put in
front of a board (``serial:``, ``auto``). :func:`~thermospu.driver.transports.open_backend` wraps
a transport when one of :data:`IMPAIRMENT_OPTIONS` is non-zero; with all sizes 0 nothing is
wrapped and the answers are bit-identical to the plain transport's.

The model, for cell i, j < n_active (the first cells of the chip's N; every pattern entry is a
fixed standard normal draw of the chip's seed, scaled by the impairment's size)::

    a'_ij = a'_ji = a_ij (1 + coupling_mismatch * d_ij)        i < j, one element per pair
    a'_ii        = a_ii (1 + self_mismatch * s_i)
    b'_i         = (1 + dac_gain_error * p_i) b_i + dac_offset * q_i * 2**(b_bits-1)
    y'_i         = (1 + adc_gain_error * u_i) y_i + adc_offset * v_i * 2**fy
    T_i          = t_i**2,  t_i = max(1 + noise_spread * e_i, MIN_NOISE_SCALE)

Units: ``*_mismatch`` and ``*_gain_error`` are relative standard deviations (0.01 = 1 %);
``*_offset`` are standard deviations as a fraction of the converter's full scale (the largest
code magnitude: 2**(b_bits-1) bias codes, 2**fy output codes, i.e. 1.0 in device units for the
ADC); ``noise_spread`` is the relative standard deviation of a cell's noise *amplitude*
t_i = sqrt(T_i), T_i its noise temperature relative to the nominal one.

The noise spread is realised exactly by the change of variables x = D z, D = diag(t): the chip
running (A', b') at temperatures T_i is a nominal chip running (D**-1 A' D, D**-1 b') whose state
z is read out through the gain D, composed with the ADC's gain. Only the rounding and clipping
of the codes (below) and the ADC's rounding, which acts on z instead of x, are not those of the
impaired chip.

Perturbed codes are rounded to the nearest code and clipped to the code range; the clipped
codes are counted in :attr:`ImpairedBackend.clipped_codes` (a matrix quantized by the driver
puts its largest entries, the equilibrated diagonal, at the top code, so the positive half of the
self-term mismatch is clipped there). The ADC's gain and offset are applied exactly to the
integer accumulators by expanding the sums (sum_y, the upper triangle of sum_yy, count), in
float64, then rounded to integers.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

from thermospu.rtl.spec import golden
from thermospu.rtl.spec.config import ConfigError, JobParams, SPUConfig
from thermospu.rtl.spec.golden import JobResult

from .base import Backend

__all__ = ["Impairments", "ImpairmentPattern", "ImpairedBackend", "IMPAIRMENT_OPTIONS",
           "IMPAIRMENT_SIZES", "MIN_NOISE_SCALE", "perturb_couplings", "perturb_biases",
           "transform_result"]

#: Smallest noise amplitude factor t_i = sqrt(T_i) of a cell (a cell cannot be colder).
MIN_NOISE_SCALE = 0.1


@dataclasses.dataclass(frozen=True)
class Impairments:
    """The sizes of an analog SPU's imperfections and the seed of its fixed pattern.

    All sizes are floats >= 0 (0: that impairment is absent); see the module docstring for the
    model and units.

    Parameters
    ----------
    coupling_mismatch : float
        Relative std of the multiplicative error of each off-diagonal coupling (one per pair).
    self_mismatch : float
        Relative std of the multiplicative error of each self term (diagonal coupling).
    dac_gain_error : float
        Relative std of each cell's bias-DAC gain.
    dac_offset : float
        Std of each cell's bias-DAC offset, as a fraction of the DAC's full scale
        2**(b_bits-1) codes.
    adc_gain_error : float
        Relative std of each cell's readout-ADC gain.
    adc_offset : float
        Std of each cell's readout-ADC offset, as a fraction of the ADC's full scale
        2**fy codes (1.0 in device units).
    noise_spread : float
        Relative std of each cell's noise amplitude sqrt(T_i) (T_i relative to nominal).
    seed : int
        The chip: the same seed gives the same pattern on every call (>= 0).
    """

    coupling_mismatch: float = 0.0
    self_mismatch: float = 0.0
    dac_gain_error: float = 0.0
    dac_offset: float = 0.0
    adc_gain_error: float = 0.0
    adc_offset: float = 0.0
    noise_spread: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in IMPAIRMENT_SIZES:
            value = getattr(self, name)
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not math.isfinite(value) or value < 0):
                raise ConfigError(f"The impairment {name}={value!r} is not valid: it must be a "
                                  f"finite number >= 0 (0 means no impairment).")
            object.__setattr__(self, name, float(value))
        if isinstance(self.seed, bool) or not isinstance(self.seed, numbers.Integral) \
                or self.seed < 0:
            raise ConfigError(f"The impairment seed {self.seed!r} is not valid: it must be an "
                              f"integer >= 0.")

    @classmethod
    def from_options(cls, options: dict) -> "Impairments":
        """From :data:`IMPAIRMENT_OPTIONS` values (``impairment_seed`` -> ``seed``)."""
        fields = {("seed" if k == "impairment_seed" else k): v for k, v in options.items()}
        return cls(**fields)

    @property
    def active(self) -> bool:
        """True when some impairment is non-zero (a transport is then wrapped)."""
        return any(getattr(self, name) for name in IMPAIRMENT_SIZES)

    def describe(self) -> str:
        """The non-zero sizes, e.g. ``"coupling_mismatch 2%, adc_offset 0.1%, seed 3"``."""
        sizes = [f"{name} {100 * getattr(self, name):.3g}%"
                 for name in IMPAIRMENT_SIZES if getattr(self, name)]
        return ", ".join(sizes + [f"seed {self.seed}"])


#: The options that size an impairment: the float fields of :class:`Impairments`, in order.
#: Each has its own random stream (its index here), so one pattern stays fixed when the size of
#: another changes.
IMPAIRMENT_SIZES = tuple(f.name for f in dataclasses.fields(Impairments) if f.name != "seed")
#: URI / keyword options of every transport that set an impairment: name -> type; each size
#: names the :class:`Impairments` field of the same name, ``impairment_seed`` sets ``seed``.
IMPAIRMENT_OPTIONS = {**dict.fromkeys(IMPAIRMENT_SIZES, float), "impairment_seed": int}
_STREAMS = {name: index for index, name in enumerate(IMPAIRMENT_SIZES)}


class ImpairmentPattern:
    """The fixed pattern of one chip of ``cells`` cells: standard normal draws of the seed,
    scaled by the sizes. A job on the first n cells uses the first n entries (and the leading
    n x n block of the coupling pattern), the same whatever ``cells`` is.

    Attributes (float64, shape (cells,))
    ----------
    self_factor, dac_gain, adc_gain : 1 + size * draw
    dac_offset : bias-DAC offset in bias codes
    noise_scale : t_i = sqrt(T_i), at least :data:`MIN_NOISE_SCALE`
    adc_offset_fraction : ADC offset as a fraction of full scale (times 2**fy: output codes)
    """

    def __init__(self, impairments: Impairments, cells: int, b_bits: int):
        self.impairments, self.cells = impairments, cells
        self.self_factor = 1 + impairments.self_mismatch * self._draw("self_mismatch")
        self.dac_gain = 1 + impairments.dac_gain_error * self._draw("dac_gain_error")
        self.dac_offset = (impairments.dac_offset * 2.0 ** (b_bits - 1)
                           * self._draw("dac_offset"))
        self.adc_gain = 1 + impairments.adc_gain_error * self._draw("adc_gain_error")
        self.adc_offset_fraction = impairments.adc_offset * self._draw("adc_offset")
        self.noise_scale = np.maximum(1 + impairments.noise_spread * self._draw("noise_spread"),
                                      MIN_NOISE_SCALE)
        self._coupling: np.ndarray | None = None

    def _draw(self, name: str) -> np.ndarray:
        rng = np.random.default_rng([self.impairments.seed, _STREAMS[name]])
        return rng.standard_normal(self.cells)

    def coupling_factor(self, n: int) -> np.ndarray:
        """1 + coupling_mismatch * d on the first n cells: symmetric (n, n), ones on the
        diagonal. Row i of d's upper triangle is its own stream, so the block does not depend
        on the chip's size."""
        if self._coupling is None or len(self._coupling) != n:
            size = self.impairments.coupling_mismatch
            factor = np.ones((n, n))
            for i in range(n - 1):
                rng = np.random.default_rng([self.impairments.seed,
                                             _STREAMS["coupling_mismatch"], i])
                row = 1 + size * rng.standard_normal(self.cells - 1 - i)[:n - 1 - i]
                factor[i, i + 1:] = row
                factor[i + 1:, i] = row
            self._coupling = factor
        return self._coupling


def _round_clip(values: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, int]:
    codes = np.rint(values)
    clipped = int(np.count_nonzero((codes < lo) | (codes > hi)))
    return np.clip(codes, lo, hi).astype(np.int64), clipped


def perturb_couplings(a_q: np.ndarray, pattern: ImpairmentPattern,
                      config: SPUConfig) -> tuple[np.ndarray, int]:
    """The codes a nominal chip must hold to act as the impaired one: mismatch, then
    D**-1 A' D (D = diag(noise_scale)); rounded, clipped. Returns (codes, clipped count)."""
    n = a_q.shape[0]
    t = pattern.noise_scale[:n]
    a = a_q * pattern.coupling_factor(n)
    a[np.diag_indices(n)] *= pattern.self_factor[:n]
    return _round_clip(a * t[None, :] / t[:, None], -(1 << config.fa), config.a_max_code)


def perturb_biases(b_q: np.ndarray, pattern: ImpairmentPattern,
                   config: SPUConfig) -> tuple[np.ndarray, int]:
    """Bias codes (C, n) through the impaired DAC, then D**-1; rounded, clipped. Returns
    (codes, clipped count)."""
    n = b_q.shape[1]
    b = (b_q * pattern.dac_gain[:n] + pattern.dac_offset[:n]) / pattern.noise_scale[:n]
    return _round_clip(b, -(1 << (config.b_bits - 1)), config.b_max_code)


def transform_result(result: JobResult, gain: np.ndarray, offset: np.ndarray) -> JobResult:
    """The accumulators of the readout y'_i = gain_i y_i + offset_i (output codes), computed
    from those of y by expanding the sums, rounded to the nearest integer::

        sum y'_i      = g_i sum y_i + o_i count
        sum y'_i y'_j = g_i g_j sum y_i y_j + g_i o_j sum y_i + o_i g_j sum y_j + o_i o_j count

    Exact up to float64 rounding (sums below 2**53). ``saturations`` and ``steps`` are kept."""
    sum_y = result.sum_y.astype(np.float64)
    count = result.count
    new_y = np.rint(gain * sum_y + offset * count).astype(np.int64)
    new_yy = None
    if result.sum_yy is not None:
        i, j = np.triu_indices(len(sum_y))
        yy = (gain[i] * gain[j] * result.sum_yy.astype(np.float64)
              + gain[i] * offset[j] * sum_y[i] + offset[i] * gain[j] * sum_y[j]
              + offset[i] * offset[j] * count)
        new_yy = np.rint(yy).astype(np.int64)
    return dataclasses.replace(result, sum_y=new_y, sum_yy=new_yy)


class ImpairedBackend(Backend):
    """A transport in front of which the chip is imprecise as ``impairments`` says.

    Parameters
    ----------
    inner : Backend
        The transport (its name and configuration are this backend's).
    impairments : Impairments
        The sizes and the chip's seed; the pattern is drawn for ``inner.config.n`` cells.

    Attributes
    ----------
    clipped_codes : int
        Coupling and bias codes clipped to their range after perturbation, over all jobs sent
        (a coupling matrix counts once per call of :meth:`run_jobs`).
    """

    def __init__(self, inner: Backend, impairments: Impairments):
        self.inner, self.impairments = inner, impairments
        self.name, self.config = inner.name, inner.config
        self.description = f"{inner.description}, impaired ({impairments.describe()})"
        self.pattern = ImpairmentPattern(impairments, self.config.n, self.config.b_bits)
        self.clipped_codes = 0

    def run_jobs(self, a_q: np.ndarray, b_q: np.ndarray, params: JobParams, seeds: list[int],
                 progress=None) -> list[JobResult]:
        """The inner transport's jobs on the perturbed codes, their accumulators read through
        the impaired readout (see :class:`Backend`)."""
        a_q, b_q = golden.check_job_inputs(self.config, a_q, b_q, params, seeds)
        a_dev, clipped_a = perturb_couplings(a_q, self.pattern, self.config)
        b_dev, clipped_b = perturb_biases(b_q, self.pattern, self.config)
        self.clipped_codes += clipped_a + clipped_b
        results = self.inner.run_jobs(a_dev, b_dev, params, seeds, progress)
        n = params.n_active
        gain = self.pattern.adc_gain[:n] * self.pattern.noise_scale[:n]
        offset = self.pattern.adc_offset_fraction[:n] * 2.0 ** self.config.fy
        return [transform_result(r, gain, offset) for r in results]

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()

    def info(self) -> dict:
        """The inner transport's answer, with this description, the impairments and the
        clipped-code count."""
        info = dict(self.inner.info())
        info["description"] = self.description
        info["impairments"] = dataclasses.asdict(self.impairments)
        info["clipped_codes"] = self.clipped_codes
        return info
