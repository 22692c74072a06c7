"""What the standard comparison runs: :class:`ComparisonPlan`, the named plans and
:func:`plan_runs` (one :class:`~.train.TrainConfig` per run, grouped for the report).

Groups of runs (names as the report and ``summary.json`` give them):

- ``adam lr=…``, ``sgd lr=…``: the first-order baselines over their learning-rate sweeps;
- ``K-FAC digital``: K-FAC with the host's Cholesky solver;
- ``K-FAC SPU M1 inverse B/B``, ``K-FAC SPU M2 linsolve B/B``: the SPU at the plan's main bits;
- ``sweep in B``, ``sweep out B``: Method 1 with only the input (DAC) or only the output (ADC)
  at B bits, the other side at ``clean_bits``;
- ``samples S``: Method 1 at the main bits with S samples per device job;
- ``impair NAME SIZE``: Method 1 at the main bits on a device with one analog impairment
  (a driver URI option, e.g. ``coupling_mismatch=0.01``; ``impairment_seed`` = the run's seed).

Every SPU run logs its device error (``TrainConfig.measure_error``) when ``measure_error``.
"""

from __future__ import annotations

import dataclasses

from thermospu.driver.transports.impairments import IMPAIRMENT_SIZES

from .train import TrainConfig

__all__ = ["ComparisonPlan", "DIGITS", "QUICK", "MNIST1D", "WIDE", "PLANS", "plan_runs",
           "model_fields", "impairment_uri", "spu_group"]


@dataclasses.dataclass(frozen=True)
class ComparisonPlan:
    """What the comparison runs (see the module docstring).

    ``hidden``, ``channels``, ``activation``, ``spu_n`` and ``split_blocks`` are
    :class:`~.train.TrainConfig`'s (None: the model's default, an SPU that holds every factor).
    ``bits`` is the input/output sweep (empty: none), ``sample_counts`` the sampling sweep
    (samples per device job; empty: none), ``impairments`` pairs of (driver URI option, sizes)
    (empty: none). ``samples`` is the samples per device job of every other SPU run.
    """

    name: str = "digits"
    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    activation: str = "tanh"
    batch_size: int = 128
    inv_update_interval: int = 10
    factor_update_interval: int = 1
    device: str = "model"
    spu_n: int | None = None
    split_blocks: bool = False
    steps: int = 200
    eval_every: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    adam_lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    sgd_lrs: tuple[float, ...] = (0.03, 0.1, 0.3)
    methods: tuple[str, ...] = ("inverse", "linsolve")
    bits: tuple[int, ...] = (4, 6, 8, 12, 16)
    main_bits: int = 8
    clean_bits: int = 16
    samples: int = 2000
    sample_counts: tuple[int, ...] = ()
    impairments: tuple[tuple[str, tuple[float, ...]], ...] = ()
    measure_error: bool = True
    timing_steps: int = 100

    def __post_init__(self):
        for name, sizes in self.impairments:
            if name not in IMPAIRMENT_SIZES:
                raise ValueError(f"impairment {name!r} is not a device option; known: "
                                 f"{', '.join(IMPAIRMENT_SIZES)}")
            if not sizes or any(size <= 0 for size in sizes):
                raise ValueError(f"impairment {name!r} needs one or more positive sizes, "
                                 f"got {sizes!r}")
        if any(count < 1 for count in self.sample_counts):
            raise ValueError(f"sample_counts must be positive, got {self.sample_counts!r}")


#: The digits comparison of docs/report/ (MLP 64-32-10, 200 steps, 3 seeds).
DIGITS = ComparisonPlan()
#: Seconds to a minute: one seed, no sweeps, Method 1 only (CI and the README's demo).
QUICK = ComparisonPlan(name="quick", steps=100, seeds=(0,), adam_lrs=(3e-3,), sgd_lrs=(0.1,),
                       methods=("inverse",), bits=(), timing_steps=50)
_IMPAIRMENTS = (("coupling_mismatch", (0.005, 0.01, 0.02, 0.05)),
                ("self_mismatch", (0.005, 0.01, 0.02, 0.05)),
                ("dac_gain_error", (0.005, 0.01, 0.02, 0.05)),
                ("adc_gain_error", (0.005, 0.01, 0.02, 0.05)),
                ("dac_offset", (0.001, 0.003, 0.01, 0.03)),
                ("adc_offset", (0.001, 0.003, 0.01, 0.03)),
                ("noise_spread", (0.05, 0.1, 0.2, 0.5)))
#: MNIST-1D with a Conv1d CNN, 5 seeds, both methods, bits, sampling and impairment sweeps
#: (hours on a few cores). 600 steps: in digital-only trials (seeds 0-1) K-FAC had plateaued by
#: then (final 0.888; Adam lr 2e-2, the best of 1e-2..3e-2, 0.859; SGD lr 0.1 0.877), and over
#: 1000 steps it reached the best Adam (lr 1e-2 of 1e-3..1e-2) accuracy at step 200, SGD at
#: 460 and Adam at 910.
MNIST1D = ComparisonPlan(
    name="mnist1d", dataset="mnist1d", model="cnn", channels=(16, 16), hidden=(64,),
    activation="relu", steps=600, eval_every=10, seeds=(0, 1, 2, 3, 4),
    adam_lrs=(3e-3, 1e-2, 2e-2, 3e-2), sgd_lrs=(0.03, 0.1, 0.3), bits=(4, 6, 8, 10, 12, 16),
    sample_counts=(250, 1000, 4000, 16000), impairments=_IMPAIRMENTS)
#: A wide MLP (256-256) on MNIST-1D: factors of 257 rows on a 64-cell SPU, split into diagonal
#: blocks (an approximation on top of K-FAC's); both methods and the bits sweep. In a 600-step
#: digital-only trial (seeds 0-1) K-FAC reached the best Adam (lr 1e-2, the top of 3e-4..1e-2)
#: accuracy at step 170, SGD (lr 0.1) at 490, Adam at 580; final accuracies all 0.67-0.69 (the
#: MLP overfits MNIST-1D's 4000 training sequences), so this plan tests speed, not end accuracy.
WIDE = ComparisonPlan(
    name="wide", dataset="mnist1d", model="mlp", hidden=(256, 256), activation="relu",
    spu_n=64, split_blocks=True, steps=600, eval_every=10, seeds=(0, 1, 2, 3, 4),
    adam_lrs=(1e-3, 3e-3, 1e-2, 3e-2), sgd_lrs=(0.03, 0.1, 0.3), bits=(4, 6, 8, 10, 12, 16))
#: The plans ``thermospu compare --plan`` names.
PLANS = {"digits": DIGITS, "mnist1d": MNIST1D, "wide": WIDE}


def impairment_uri(device: str, name: str, size: float, seed: int) -> str:
    """``device`` with the impairment option ``name=size`` and ``impairment_seed=seed`` added
    (after ``?``, or ``&`` when the URI has options already)."""
    return f"{device}{'&' if '?' in device else '?'}{name}={size:g}&impairment_seed={seed}"


def spu_group(method: str, bits: int) -> str:
    """The group name of the SPU runs of ``method`` at ``bits``/``bits``."""
    return f"K-FAC SPU {'M1 inverse' if method == 'inverse' else 'M2 linsolve'} {bits}/{bits}"


def model_fields(plan: ComparisonPlan) -> dict:
    """The :class:`TrainConfig` fields every run of ``plan`` shares."""
    return dict(dataset=plan.dataset, model=plan.model, hidden=plan.hidden,
                channels=plan.channels, activation=plan.activation, batch_size=plan.batch_size,
                inv_update_interval=plan.inv_update_interval,
                factor_update_interval=plan.factor_update_interval)


def plan_runs(plan: ComparisonPlan) -> list[tuple[str, TrainConfig]]:
    """(group, config) of every run, groups named for the report (module docstring)."""
    base = dict(model_fields(plan), steps=plan.steps, eval_every=plan.eval_every,
                samples=plan.samples)
    runs = []
    for seed in plan.seeds:
        def spu(**fields):
            options = dict(base, optimizer="kfac", solver="spu", method="inverse", seed=seed,
                           in_bits=plan.main_bits, out_bits=plan.main_bits, device=plan.device,
                           spu_n=plan.spu_n, split_blocks=plan.split_blocks,
                           measure_error=plan.measure_error)
            return TrainConfig(**{**options, **fields})

        for lr in plan.adam_lrs:
            runs.append((f"adam lr={lr:g}", TrainConfig(optimizer="adam", lr=lr, seed=seed, **base)))
        for lr in plan.sgd_lrs:
            runs.append((f"sgd lr={lr:g}", TrainConfig(optimizer="sgd", lr=lr, seed=seed, **base)))
        runs.append(("K-FAC digital", TrainConfig(optimizer="kfac", seed=seed, **base)))
        for method in plan.methods:
            runs.append((spu_group(method, plan.main_bits), spu(method=method)))
        for bits in plan.bits:
            for side in ("in", "out"):
                runs.append((f"sweep {side} {bits}",
                             spu(in_bits=bits if side == "in" else plan.clean_bits,
                                 out_bits=bits if side == "out" else plan.clean_bits)))
        for count in plan.sample_counts:
            runs.append((f"samples {count}", spu(samples=count)))
        for name, sizes in plan.impairments:
            for size in sizes:
                runs.append((f"impair {name} {size:g}",
                             spu(device=impairment_uri(plan.device, name, size, seed))))
    return runs
