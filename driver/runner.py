"""The jobs of one call on the device: registers, the ranging pilot, the sampling run.

:class:`~.device.Device` decides *what* to run (which right-hand sides, how many samples, how
many jobs); the functions here run it on the transport: :func:`job_params` turns a noise
amplitude into registers, :func:`pilot` measures how much of the state range a run fills,
:func:`main_run` runs the jobs and backs off after saturation. Everything a transport returns is
integer accumulators, so each step is bit-identical on every transport.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import warnings

import numpy as np

from thermospu.rtl.spec.config import G_STD, JobParams, SPUConfig

from .errors import SaturationError, SPUError
from .quantize import QuantizedVectors
from .ranging import Ranging, range_fill

__all__ = ["MainRun", "job_params", "actual_sigma", "progress_bar", "run_jobs", "pilot",
           "main_run"]


@dataclasses.dataclass(frozen=True)
class MainRun:
    """The accepted sampling jobs of a run: their results (one per chain, in the order of the
    rows sent), registers, bias vectors and ranging, with Euler steps (summed over chains and
    retries), saturations (accepted run) and retries."""

    results: list
    params: JobParams
    bias: QuantizedVectors
    ranging: Ranging
    steps: int
    saturations: int
    retries: int


def job_params(config: SPUConfig, n: int, plan, n_samples: int, *, burn_in: int, b_shift: int,
               sigma: float, moments: bool) -> JobParams:
    """JobParams for noise amplitude ``sigma`` (state units, x in [-1, 1)) per step."""
    k = plan.k
    # sigma = sigma_q * G_STD * 2**(sigma_shift - fa - fx - k): pick the smallest exponent
    # that fits sigma_q in sigma_bits, so the mantissa keeps the most precision.
    target = sigma / G_STD * 2.0 ** (config.fa + config.fx + k)
    shift = max(0, math.ceil(math.log2(target / config.sigma_max_code))) if target > 0 else 0
    shift = min(shift, config.sigma_shift_max)
    sigma_q = int(min(round(target / 2.0**shift), config.sigma_max_code))
    return JobParams(n_active=n, k=k, b_shift=b_shift, sigma_q=max(sigma_q, 1),
                     sigma_shift=shift, burn_in=burn_in, samples=n_samples, thin=plan.thin,
                     moments=moments)


def actual_sigma(config: SPUConfig, params: JobParams) -> float:
    """Per-step noise std in state units that the job's registers give, including the
    integrator's rounding noise (a uniform half-LSB error each step: variance LSB**2/12)."""
    sigma = params.sigma_q * G_STD * 2.0 ** (params.sigma_shift - config.fa - config.fx - params.k)
    return math.sqrt(sigma**2 + 2.0 ** (-2 * config.fx) / 12)


def progress_bar(show: bool | None, steps: int, n: int, name: str):
    """A context manager yielding a callable ``bar(steps_done)`` (or None). ``show`` None shows
    one for runs of more than 10**6 cell updates when standard error is a terminal."""
    if show is None:
        show = steps * n > 10**6 and sys.stderr.isatty()
    if not show:
        return contextlib.nullcontext(None)
    from tqdm import tqdm

    bar = tqdm(total=steps, unit="step", unit_scale=True, desc=f"SPU {name}", leave=False)

    @contextlib.contextmanager
    def managed():
        try:
            yield bar.update
        finally:
            bar.close()

    return managed()


def run_jobs(backend, codes, bias_codes, params, seeds, progress=None) -> list:
    """``backend.run_jobs``; an interrupt (Ctrl-C) aborts the device's job before it
    propagates, so the next call finds the device idle instead of BUSY."""
    try:
        return backend.run_jobs(codes, bias_codes, params, seeds, progress=progress)
    except KeyboardInterrupt:
        try:
            backend.reset()
        except SPUError as error:
            warnings.warn(f"the interrupted job could not be aborted ({error}); call "
                          f"reset() before the next job", RuntimeWarning, stacklevel=2)
        raise


def pilot(backend, codes: np.ndarray, plan, columns: np.ndarray, ranging: Ranging,
          pilot_samples: int, seeds: list[int]) -> tuple[Ranging, int]:
    """A short run with moments (one chain per row of ``columns``) that measures the busiest
    cell's |mean| + 5 std and scales noise and bias so that it fills ``ranging.target`` of the
    state range (growth capped at 64x). Returns the new ranging and the pilot's Euler steps
    (summed over chains)."""
    config = backend.config
    bias = ranging.bias_vectors(columns, config)
    params = job_params(config, codes.shape[0], plan, pilot_samples, burn_in=plan.burn_in,
                        b_shift=bias.b_shift, sigma=ranging.noise_sigma(2.0**-plan.k),
                        moments=True)
    results = run_jobs(backend, codes, bias.codes, params, seeds)
    fill, cell_std = max(range_fill(r, config) for r in results)
    ranging = dataclasses.replace(ranging, cell_std=cell_std)
    if fill > 0:
        ranging = ranging.grown(min(ranging.target / fill, 64.0))
    return ranging, sum(r.steps for r in results)


def main_run(backend, codes: np.ndarray, plan, columns: np.ndarray, n_samples: int,
             ranging: Ranging, seeds: list[int], *, moments: bool, max_retries: int,
             condition: float, show_progress: bool | None) -> MainRun:
    """The sampling jobs (one per row of ``columns``, ``n_samples`` samples each), retried at
    half the range after saturation (at most ``max_retries`` times, then
    :class:`SaturationError`)."""
    config, chains, n = backend.config, columns.shape[0], codes.shape[0]
    steps = retries = 0
    while True:
        bias = ranging.bias_vectors(columns, config)
        params = job_params(config, n, plan, n_samples, burn_in=plan.burn_in,
                            b_shift=bias.b_shift, sigma=ranging.noise_sigma(2.0**-plan.k),
                            moments=moments)
        with progress_bar(show_progress, params.steps * chains, n, backend.name) as bar:
            results = run_jobs(backend, codes, bias.codes, params, seeds, progress=bar)
        run_steps = sum(r.steps for r in results)
        steps += run_steps
        saturations = sum(r.saturations for r in results)
        # A clamp now and then (tails beyond 5 std) does not bias the statistics measurably;
        # more than one update in 10**5 does.
        if saturations <= 1e-5 * run_steps * n:
            return MainRun(results, params, bias, ranging, steps, saturations, retries)
        retries += 1
        if retries > max_retries:
            raise SaturationError(
                f"the SPU state saturated in {saturations} cell updates even at "
                f"{ranging.target:.3g} of the range; the problem is too ill-conditioned for "
                f"x_bits={config.x_bits} (condition estimate {condition:.3g})")
        ranging = ranging.backed_off()
