"""One training run: data set, model, optimizer (SGD, Adam or K-FAC with a digital or SPU solver).

:func:`train` runs a :class:`TrainConfig` and returns its metrics (per-step loss and accuracy,
test evaluations, wall time, SPU work); with ``out_dir`` it also writes ``metrics.json`` and PNG
plots. :func:`measure_step_times` times SGD and K-FAC steps side by side on the same model.

Data parallel: run :func:`train` in each of ``cfg.nproc`` processes of an initialised
``torch.distributed`` group (``thermospu train --nproc N``, or ``torchrun``). Every rank draws the
same global minibatch and trains on its slice of ``batch_size / nproc`` rows; K-FAC uses
:class:`~.distributed.DistributedKFACPreconditioner` (gradients averaged, factors all-reduced,
each layer inverted on one rank's solver), SGD and Adam a ``DistributedDataParallel`` model.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import pathlib
import time

import torch
import torch.nn.functional as F

from thermospu.driver.transports import emulates, parse_uri
from thermospu.rtl.spec.config import ConfigError

from .data import load_dataset
from .models import DEFAULT_CHANNELS, DEFAULT_HIDDEN, build_model
from .optimizer import KFAC
from .solvers import DigitalSolver, device_error_summary, thermodynamic_solver

__all__ = ["TrainConfig", "train", "make_optimizer", "make_solver", "measure_step_times",
           "DistributedKFAC", "DEFAULT_LR", "set_threads"]

#: Learning rates used when none is given (tuned on digits/MLP, see docs/kfac.md).
DEFAULT_LR = {"sgd": 0.1, "adam": 3e-3, "kfac": 0.1}
#: DAC and ADC bits of an emulated SPU when a run does not give them (a board has its own).
EMULATED_BITS = 8


def set_threads(threads: int | None = None) -> None:
    """Use ``threads`` intra-op threads (default 1: the models are tiny, and parallel runs of
    the comparison each get a core)."""
    torch.set_num_threads(threads or 1)


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a run (all of it lands in ``metrics.json``).

    Attributes
    ----------
    dataset, model : str
        ``"digits"``/``"mnist1d"``, ``"mlp"``/``"cnn"``.
    hidden : tuple of int or None
        Hidden Linear widths (the MLP's layers; the CNN's after its convolutions); None = the
        model's default (MLP ``(32,)``, CNN ``()``), resolved on construction.
    channels : tuple of int or None
        The CNN's convolution channel counts (Conv2d 3x3 on digits, Conv1d kernel 5 stride 2 on
        MNIST-1D); None = ``(8, 8)`` for the CNN, ``()`` for the MLP, resolved on construction.
    activation : str
        ``"tanh"``, ``"relu"`` or ``"gelu"``, after every hidden layer.
    optimizer : str
        ``"sgd"`` (momentum 0.9), ``"adam"`` or ``"kfac"`` (SGD with momentum 0.9 on
        K-FAC-preconditioned gradients).
    lr : float or None
        Learning rate; None takes :data:`DEFAULT_LR`.
    steps, batch_size, seed, eval_every : int
        Optimizer steps, minibatch size (the global one, over all processes), seed of
        initialisation and batch order, steps between test-set evaluations.
    nproc : int
        Data-parallel processes (``torch.distributed`` ranks); ``batch_size`` must divide by it.
    solver : str
        K-FAC's solver: ``"digital"`` (Cholesky) or ``"spu"``.
    device : str
        Device URI of the SPU solver (``"model"``: the emulated SPU); ``{rank}`` in it is
        replaced by each process's rank (``serial:/dev/ttyUSB{rank}``: one board per rank).
    method : str
        SPU method: ``"inverse"`` (Method 1) or ``"linsolve"`` (Method 2).
    in_bits, out_bits : int or None
        The SPU's input DAC width (coupling matrix and right-hand sides) and ADC width; None =
        8 on an emulated SPU (``model``, ``sim:*``), the device's own on a board or sim-server
        (where a given width must equal the device's).
    spu_n : int or None
        Cells of the emulated SPU (on a board: the least it must have); None = the largest
        factor of the model.
    samples : int or None
        Samples per SPU job; None = the device default (or ``tol``).
    tol : float or None
        Target relative standard error per SPU job (sets the samples); excludes ``samples``.
    damping, factor_decay, kl_clip : float
    factor_update_interval, inv_update_interval : int
    pi_adjust : bool
    fisher : str
        ``"empirical"`` or ``"mc"``.
    split_blocks : bool
        Split factors larger than the SPU into diagonal blocks.
    measure_error : bool
        Log the SPU solver's error of every device answer against the exact float64 one
        (:class:`~.solvers.DeviceErrorRecord`; an O(n³) host solve per answer): the run's
        metrics then carry ``device_errors`` and their ``device_error`` summary.
    """

    dataset: str = "digits"
    model: str = "mlp"
    hidden: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    activation: str = "tanh"
    optimizer: str = "kfac"
    lr: float | None = None
    steps: int = 300
    batch_size: int = 128
    seed: int = 0
    eval_every: int = 10
    nproc: int = 1
    solver: str = "digital"
    device: str = "model"
    method: str = "inverse"
    in_bits: int | None = None
    out_bits: int | None = None
    spu_n: int | None = None
    samples: int | None = 2000
    tol: float | None = None
    damping: float = 3e-2
    factor_decay: float = 0.95
    kl_clip: float = 1e-3
    factor_update_interval: int = 1
    inv_update_interval: int = 10
    pi_adjust: bool = True
    fisher: str = "empirical"
    split_blocks: bool = False
    measure_error: bool = False

    def __post_init__(self):
        if self.optimizer not in DEFAULT_LR:
            raise ValueError(f"optimizer must be one of {sorted(DEFAULT_LR)}, got {self.optimizer!r}")
        if self.solver not in ("digital", "spu"):
            raise ValueError(f"solver must be 'digital' or 'spu', got {self.solver!r}")
        if self.method not in ("inverse", "linsolve"):
            raise ValueError(f"method must be 'inverse' or 'linsolve', got {self.method!r}")
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be positive")
        if self.samples is not None and self.tol is not None:
            raise ValueError("give samples or tol, not both")
        if self.nproc < 1 or self.batch_size % self.nproc:
            raise ValueError(f"batch_size {self.batch_size} must split evenly over nproc "
                             f"{self.nproc} processes")
        if self.model == "mlp" and self.channels:
            raise ValueError("channels are the CNN's convolutions; the MLP has none")
        if self.hidden is None:
            self.hidden = DEFAULT_HIDDEN.get(self.model, ())
        if self.channels is None:
            self.channels = DEFAULT_CHANNELS if self.model == "cnn" else ()
        self.hidden, self.channels = tuple(self.hidden), tuple(self.channels)

    def build_model(self, data):
        """This run's model for ``data`` (a :class:`~.data.Dataset`), from the current torch
        seed."""
        return build_model(self.model, data.features, data.classes, data.image_shape,
                           hidden=self.hidden,
                           channels=self.channels if self.model == "cnn" else None,
                           activation=self.activation)

    def device_uri(self, rank: int = 0) -> str:
        """The SPU device URI of process ``rank`` (``{rank}`` replaced)."""
        return self.device.replace("{rank}", str(rank))

    @property
    def learning_rate(self) -> float:
        return DEFAULT_LR[self.optimizer] if self.lr is None else self.lr

    @property
    def label(self) -> str:
        """Short name for tables and legends."""
        if self.optimizer != "kfac":
            return f"{self.optimizer} lr={self.learning_rate:g}"
        if self.solver == "digital":
            return "K-FAC digital"
        method = "M1 inverse" if self.method == "inverse" else "M2 linsolve"
        unset = EMULATED_BITS if emulates(self.device) else "dev"
        return f"K-FAC SPU {method} in{self.in_bits or unset}/out{self.out_bits or unset}"


def make_solver(cfg: TrainConfig, layer_sizes: list[int], rank: int = 0):
    """The K-FAC solver of a run (of process ``rank``: its device URI, seed ``cfg.seed + rank``).
    An emulated SPU is built with the run's cells and bit widths; a board or sim-server is
    checked against them (see :func:`thermospu.driver.open`)."""
    if cfg.solver == "digital":
        return DigitalSolver("cholesky")
    import thermospu.driver as driver
    uri = cfg.device_uri(rank)
    emulated = emulates(uri)
    named = parse_uri(uri)[2]                 # fields the URI sets itself are kept

    def default(field, value):
        return None if field in named or not emulated else value

    # An emulated SPU is built to hold every factor; a board must, unless factors are split.
    whole = (emulated or not cfg.split_blocks) and "n" not in named
    device = driver.open(uri, n=cfg.spu_n or (max(layer_sizes) if whole else None),
                         a_bits=cfg.in_bits or default("a_bits", EMULATED_BITS),
                         b_bits=cfg.in_bits or default("b_bits", EMULATED_BITS),
                         out_bits=cfg.out_bits or default("out_bits", EMULATED_BITS))
    return thermodynamic_solver(device, cfg.method, samples=cfg.samples, tol=cfg.tol,
                                split_blocks=cfg.split_blocks, seed=cfg.seed + rank,
                                measure_error=cfg.measure_error)


def _factor_sizes(model) -> list[int]:
    from .capture import FactorCapture
    capture = FactorCapture(model)
    capture.remove()
    return [size for l in capture.layers.values() for size in (l.a_dim, l.g_dim)]


def make_optimizer(cfg: TrainConfig, model, rank: int = 0) -> torch.optim.Optimizer:
    """SGD, Adam or K-FAC for ``model``; with ``cfg.nproc > 1`` K-FAC is
    :class:`DistributedKFAC` (``torch.distributed`` must be initialised) with this ``rank``'s
    solver."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.learning_rate, momentum=0.9)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
    solver = make_solver(cfg, _factor_sizes(model), rank)
    options = dict(damping=cfg.damping, factor_decay=cfg.factor_decay, kl_clip=cfg.kl_clip,
                   factor_update_interval=cfg.factor_update_interval,
                   inv_update_interval=cfg.inv_update_interval, pi_adjust=cfg.pi_adjust,
                   fisher=cfg.fisher, seed=cfg.seed)
    kind = DistributedKFAC if cfg.nproc > 1 else KFAC
    return kind(model, lr=cfg.learning_rate, momentum=0.9, solver=solver, **options)


class DistributedKFAC(KFAC):
    """:class:`~.optimizer.KFAC` (SGD with momentum on preconditioned gradients) whose
    preconditioner is a :class:`~.distributed.DistributedKFACPreconditioner`: the gradients are
    averaged over the ranks, so every rank's SGD takes the same step."""

    def __init__(self, model, lr: float, *, momentum: float, solver, **kfac_options):
        from .distributed import DistributedKFACPreconditioner
        params = [p for p in model.parameters() if p.requires_grad]
        torch.optim.SGD.__init__(self, params, lr=lr, momentum=momentum)
        self.preconditioner = DistributedKFACPreconditioner(model, solver, lr=self._clip_lr,
                                                            **kfac_options)


class _Batches:
    """Minibatches of a fixed seed: a fresh permutation each epoch, last partial batch dropped."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, min(batch_size, n)
        self.generator = torch.Generator().manual_seed(seed)
        self._order, self._pos = None, n

    def next(self) -> torch.Tensor:
        if self._pos + self.batch_size > self.n:
            self._order, self._pos = torch.randperm(self.n, generator=self.generator), 0
        idx = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "order": self._order, "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order, self._pos = state["order"], state["pos"]


@torch.no_grad()
def _evaluate(model, x, y) -> tuple[float, float]:
    model.eval()
    logits = model(x)
    model.train()
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def _world() -> tuple[int, int]:
    """(rank, world size) of the initialised ``torch.distributed`` group; (0, 1) without one."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _step_stats(loss, logits, y, spu_steps: int, world: int) -> tuple[float, float, int]:
    """The step's loss and batch accuracy on the global batch, and the Euler steps of every
    rank's SPU so far (one all-reduce when ``world > 1``)."""
    accuracy = float((logits.argmax(1) == y).float().mean())
    if world == 1:
        return loss.item(), accuracy, spu_steps
    import torch.distributed as dist
    stats = torch.tensor([loss.item(), accuracy, float(spu_steps)], dtype=torch.float64)
    dist.all_reduce(stats)              # every rank's slice has the same size: mean of means
    return float(stats[0]) / world, float(stats[1]) / world, int(stats[2])


def train(cfg: TrainConfig, *, out_dir=None, progress: bool = True, data=None,
          checkpoint_dir=None, resume: bool = False) -> dict:
    """Run ``cfg``; returns the metrics dict (also written to ``out_dir/metrics.json`` with
    ``loss.png`` and ``accuracy.png`` when ``out_dir`` is given).

    Metrics: ``config``; per step ``loss``, ``batch_accuracy``, ``wall_s`` (cumulative optimizer
    time, evaluations excluded) and ``spu_steps`` (cumulative Euler steps); per evaluation
    ``eval_steps``, ``test_accuracy``, ``test_loss``; ``final_test_accuracy``,
    ``best_test_accuracy``, ``solver_metrics`` (fallbacks, device jobs ...), ``diverged``;
    with ``cfg.measure_error`` ``device_errors`` (every :class:`~.solvers.DeviceErrorRecord` as
    a dict; rank 0's own with ``nproc > 1``) and ``device_error`` (their median, 90th
    percentile, max: :func:`~.solvers.device_error_summary`).

    With ``cfg.nproc > 1`` every rank of the initialised ``torch.distributed`` group calls
    this (see the module docstring); losses, accuracies, Euler steps and ``solver_metrics`` are
    those of the global batch and summed over the ranks, ``rank_reports`` gives each rank's
    layers and device jobs, and only rank 0 writes ``out_dir`` and shows progress.

    With ``checkpoint_dir`` the run is checkpointed after every evaluation
    (:mod:`.checkpoint`); with ``resume`` it continues from the checkpoint found there (a run
    of another configuration is refused), and ends as an uninterrupted run would have, bit for
    bit (wall times apart). One-process runs only.
    """
    rank, world = _world()
    if world != cfg.nproc:
        raise ValueError(f"the run is configured for {cfg.nproc} process(es), but "
                         f"torch.distributed has {world}; set nproc to the world size")
    if world > 1 and checkpoint_dir is not None:
        raise ValueError("checkpoints of multi-process runs are not supported; run with one "
                         "process to checkpoint")
    data = data or load_dataset(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model = cfg.build_model(data)
    optimizer = make_optimizer(cfg, model, rank)
    forward = model
    if world > 1 and cfg.optimizer != "kfac":     # K-FAC's preconditioner averages gradients
        forward = torch.nn.parallel.DistributedDataParallel(model)
    batches = _Batches(len(data.y_train), cfg.batch_size, cfg.seed)
    local = batches.batch_size // world
    kfac = optimizer.preconditioner if isinstance(optimizer, KFAC) else None
    metrics = {"config": dataclasses.asdict(cfg), "label": cfg.label, "loss": [],
               "batch_accuracy": [], "wall_s": [], "spu_steps": [], "eval_steps": [],
               "test_accuracy": [], "test_loss": [], "diverged": False}
    if kfac is not None:
        metrics["kfac_layers"] = kfac.describe()
        if kfac.solver.name.startswith("spu"):
            metrics["device"] = kfac.solver.device.description
    run = _Run(model, optimizer, batches, metrics)
    if checkpoint_dir is not None:
        checkpoint_dir = pathlib.Path(checkpoint_dir)
        if resume:
            run.resume(checkpoint_dir)

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=run.step, desc=cfg.label, unit="step", leave=False)
    wall = run.wall
    for step in range(run.step, cfg.steps):
        idx = batches.next()[rank * local:(rank + 1) * local]
        x, y = data.x_train[idx], data.y_train[idx]
        started = time.perf_counter()
        optimizer.zero_grad()
        logits = forward(x)
        loss = F.cross_entropy(logits, y)
        if kfac is not None and cfg.fisher == "mc":
            optimizer.sample_fisher(logits)
        loss.backward()
        optimizer.step()
        wall += time.perf_counter() - started
        spu = kfac.solver.metrics.get("spu_steps", 0) if kfac is not None else 0
        loss_value, accuracy, spu = _step_stats(loss, logits, y, spu, world)
        metrics["loss"].append(loss_value)
        metrics["batch_accuracy"].append(accuracy)
        metrics["wall_s"].append(wall)
        metrics["spu_steps"].append(spu)
        if not math.isfinite(loss_value):
            metrics["diverged"] = True
            break
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            test_loss, test_acc = _evaluate(model, data.x_test, data.y_test)
            metrics["eval_steps"].append(step + 1)
            metrics["test_accuracy"].append(test_acc)
            metrics["test_loss"].append(test_loss)
            if checkpoint_dir is not None:
                run.save(checkpoint_dir, step + 1, wall)
            if bar is not None:
                bar.set_postfix(loss=f"{loss_value:.3f}", test_acc=f"{test_acc:.3f}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    _finish(metrics, kfac, wall, world)
    if out_dir is not None and rank == 0:
        write_run(metrics, pathlib.Path(out_dir))
    return metrics


def _finish(metrics: dict, kfac, wall: float, world: int) -> None:
    """The run's totals; with ``world > 1`` the rank reports (a collective: every rank)."""
    metrics["final_test_accuracy"] = metrics["test_accuracy"][-1] if metrics["test_accuracy"] else 0.0
    metrics["best_test_accuracy"] = max(metrics["test_accuracy"], default=0.0)
    metrics["wall_s_total"] = wall
    metrics["solver_metrics"] = dict(kfac.solver.metrics) if kfac is not None else {}
    metrics["kfac_metrics"] = dict(kfac.metrics) if kfac is not None else {}
    records = getattr(kfac.solver, "error_records", []) if kfac is not None else []
    if records:                     # this rank's device answers (with measure_error)
        metrics["device_errors"] = [dataclasses.asdict(r) for r in records]
        metrics["device_error"] = device_error_summary(records)
    if world > 1 and kfac is not None:
        from .distributed import gather_rank_reports
        reports = gather_rank_reports(kfac)
        metrics["rank_reports"] = reports
        totals: dict = {}
        for report in reports:
            for key, value in report["solver_metrics"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    totals[key] = totals.get(key, 0) + value
        metrics["solver_metrics"] = totals


class _Run:
    """The state of a run that a checkpoint carries, and how to save and restore it."""

    def __init__(self, model, optimizer, batches: _Batches, metrics: dict):
        self.model, self.optimizer, self.batches, self.metrics = model, optimizer, batches, metrics
        self.step, self.wall = 0, 0.0

    def save(self, folder: pathlib.Path, step: int, wall: float) -> None:
        from .checkpoint import save_checkpoint
        save_checkpoint(folder, {
            "step": step, "wall": wall, "metrics": self.metrics,
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "batches": self.batches.state_dict(), "torch_rng": torch.get_rng_state()})

    def resume(self, folder: pathlib.Path) -> None:
        from .checkpoint import CHECKPOINT_NAME, load_checkpoint
        state = load_checkpoint(folder)
        if state is None:
            return                          # nothing saved yet: start from the beginning
        if state["metrics"]["config"] != self.metrics["config"]:
            raise ConfigError(f"{folder / CHECKPOINT_NAME} is a checkpoint of another run "
                             f"({state['metrics']['config']}); resume with the same options or "
                             f"another --checkpoint folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["torch_rng"])
        self.metrics.clear()
        self.metrics.update(state["metrics"])
        self.step, self.wall = state["step"], state["wall"]


def write_run(metrics: dict, out_dir: pathlib.Path) -> None:
    """``metrics.json``, ``loss.png`` (training loss per step) and ``accuracy.png`` (test
    accuracy per evaluation) of one run."""
    from .report import plot_curves
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    plot_curves([metrics], "loss", out_dir / "loss.png", title=metrics["label"])
    plot_curves([metrics], "test_accuracy", out_dir / "accuracy.png", title=metrics["label"])


def measure_step_times(cfg: TrainConfig, *, steps: int = 100, data=None) -> dict:
    """Wall time of an SGD step and of a K-FAC step (``cfg``'s solver and intervals) on the same
    model and batches, interleaved step by step so both see the same machine load.

    Returns median and mean seconds per step of each and ``ratio`` = K-FAC mean / SGD mean (the
    mean includes the inverse updates every ``inv_update_interval`` steps)."""
    data = data or load_dataset(cfg.dataset)
    torch.manual_seed(cfg.seed)
    model_sgd = cfg.build_model(data)
    model_kfac = copy.deepcopy(model_sgd)
    sgd = torch.optim.SGD(model_sgd.parameters(), lr=DEFAULT_LR["sgd"], momentum=0.9)
    kfac = make_optimizer(dataclasses.replace(cfg, optimizer="kfac"), model_kfac)
    batches = _Batches(len(data.y_train), cfg.batch_size, cfg.seed)
    times = {"sgd": [], "kfac": []}
    for _ in range(steps):
        idx = batches.next()
        x, y = data.x_train[idx], data.y_train[idx]
        for name, model, opt in (("sgd", model_sgd, sgd), ("kfac", model_kfac, kfac)):
            started = time.perf_counter()
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            times[name].append(time.perf_counter() - started)
    out = {}
    for name, t in times.items():
        t = torch.tensor(t, dtype=torch.float64)
        out[f"{name}_median_s"] = float(t.median())
        out[f"{name}_mean_s"] = float(t.mean())
    out["ratio"] = out["kfac_mean_s"] / out["sgd_mean_s"]
    out["ratio_median"] = out["kfac_median_s"] / out["sgd_median_s"]
    out["steps"] = steps
    return out
