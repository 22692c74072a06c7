"""Cost model: digital K-FAC, thermodynamic K-FAC (Methods 1 and 2) on an SPU, and Adam/SGD.

Every function here is arithmetic on documented parameters: nothing is run. The model answers
"how long does one training step take, and how much optimizer memory does it hold" for a stack of
linear layers, on a digital machine (:class:`DigitalHardware`) alone or together with an analog
SPU (:class:`AnalogSPU`) or our FPGA emulation of one (:class:`EmulatedSPU`). ``docs/costmodel.md``
explains the model, its calibration and its predictions; ``thermospu costmodel`` prints them.

A layer ``W`` of shape ``(g, a)`` (``g = d_out``, ``a = d_in + 1`` with the bias column) sees
``m`` activation rows per step (batch size times tokens or nodes). Per step, with the K-FAC
intervals of :class:`KFACSchedule` (factors every ``T_f`` steps, inverses every ``T_i``):

============================  =================================================  ==============
phase                         work (FLOP or samples)                             n-scaling
============================  =================================================  ==============
forward + backward            ``6 m a g``                                        ``m n**2``
factors A, G (digital)        ``2 m (a**2 + g**2)`` every ``T_f``               ``m n**2``
inversion (digital)           ``inv: 2 (a**3 + g**3)`` / ``eigh: 9 (...)``,      ``n**3``
                              every ``T_i``
preconditioning (digital)     ``2 g a (a + g)`` (eigen: twice that)              ``n**3``
Method 1 on the SPU           per factor: load n**2 codes, relax, sample          ``n**2`` (link)
                              ``(n+1)/eps**2`` effective samples, read n**2/2
                              moments; every ``T_i``
Method 2 on the SPU           ``a`` solves with G and ``g`` solves with A,        ``n`` (analog),
                              every step; each relaxes and averages; one link   ``n**2`` (link)
                              transfer of all right-hand sides and one of all
                              solutions per pass
Method 2, raw factors         as Method 2, the SPU coupling through the          ``m n`` (link)
                              ``m x a`` and ``m x g`` activations/gradients
                              (no host factors); every ``T_f``
Adam / SGD update             ``~12 a g`` FLOP, ``7 a g`` words moved             ``n**2``
============================  =================================================  ==============

So digital K-FAC grows as ``n**3``; Method 2 removes every ``n**3`` term (its SPU time is ``O(n)``
relaxations plus ``O(n**2)`` words on the host link); Method 1 removes the inversion but keeps
the ``O(n**3)`` preconditioning products on the host. :data:`ANALYTIC_EXPONENTS` lists the
exponents and the tests fit them back from the model.

SPU timing. A matrix is normalized into the device's range so that its largest eigenvalue relaxes
at ``1 / t_u`` (``t_u`` = :meth:`AnalogSPU.time_unit_s`, the cell time constant for an analog
SPU); the slowest mode relaxes in ``kappa t_u``. A run is a burn-in of ``burn_in_tau`` relaxation
times, then samples every ``dt`` (set by the converters), correlated as
``rho = exp(-dt / (kappa t_u))``; ``N`` effective samples take ``N (1 + rho) / (1 - rho)``
samples. An inverse (the covariance) needs ``N = (n + 1) / eps**2`` for relative Frobenius error
``eps``; a solve (the mean) needs ``N = max(1, (noise_to_signal / eps)**2)``. These are the
rules of our driver (:func:`thermospu.driver.autorange.samples_for_tolerance`), which
``bench/bench_costmodel_calibration.py`` checks against the golden model's measured step counts.

Units: seconds, bytes, FLOP, hertz; ``eps`` and ``kappa`` are dimensionless.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Sequence

__all__ = [
    "CostModelError", "Layer", "Workload", "KFACSchedule", "SolverAccuracy",
    "DigitalHardware", "AnalogSPU", "EmulatedSPU", "PhaseCosts",
    "adam_step", "sgd_step", "kfac_step", "thermo_kfac_step", "all_optimizers",
    "digital_op_seconds", "spu_inverse_seconds", "spu_solve_seconds",
    "parse_quantity", "with_overrides", "parameter_table", "fit_exponent", "crossover_width",
    "ANALYTIC_EXPONENTS", "GPU_A100", "CPU_THIS_MACHINE", "ANALOG_SPU_PROJECTED",
    "ANALOG_SPU_WHATIF", "FPGA_ICE40_EMULATION", "FPGA_ECP5_EMULATION", "FPGA_ECP5_CI_EMULATION",
    "width_sweep_workload", "vit_workload", "gnn_workload", "WORKLOADS",
]


class CostModelError(ValueError):
    """A cost-model parameter or workload is missing, of the wrong unit, or outside the range
    the model is meant for; the message names the parameter, its unit and the allowed range."""


# --- parameters with units, sources and plausible ranges ---------------------------------------

def _param(default, unit: str, source: str, lo: float, hi: float, *, integer: bool = False,
           optional: bool = False):
    """A dataclass field carrying its unit, the source of its default and its allowed range."""
    return dataclasses.field(default=default, metadata={
        "unit": unit, "source": source, "range": (lo, hi), "integer": integer,
        "optional": optional})


def _validate(obj) -> None:
    for f in dataclasses.fields(obj):
        if "unit" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        lo, hi = f.metadata["range"]
        unit = f.metadata["unit"]
        where = f"{type(obj).__name__}.{f.name}"
        if value is None:
            if f.metadata["optional"]:
                continue
            raise CostModelError(f"{where} is required ({unit})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CostModelError(f"{where} must be a number in {unit}, got {value!r}")
        if f.metadata["integer"] and int(value) != value:
            raise CostModelError(f"{where} must be a whole number of {unit}, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise CostModelError(
                f"{where}={value!r} {unit} is outside the range [{lo:g}, {hi:g}] {unit} this "
                f"model is meant for")


def parameter_table(obj) -> list[tuple[str, str, str, str]]:
    """Rows (name, value, unit, source) of a parameter dataclass. The source is the field's for a
    default value, the profile's ``source`` for a value the profile sets, and "set by the user"
    for one changed through :func:`with_overrides`."""
    rows = []
    for f in dataclasses.fields(obj):
        if "unit" in f.metadata and f.name not in getattr(obj, "unused_parameters", ()):
            value = getattr(obj, f.name)
            if f.name in obj.overridden:
                source = "set by the user"
            elif value != f.default:
                source = obj.source or "set by this profile"
            else:
                source = f.metadata["source"]
            rows.append((f.name, "none" if value is None else f"{value:g}", f.metadata["unit"],
                         source))
    return rows


_SI_PREFIX = {"": 1.0, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3,
              "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_quantity(text: str, unit: str) -> float:
    """Parse ``"1 us"``, ``"25 GB/s"``, ``"10MS/s"``, ``"1e-6"`` into a number in ``unit``.

    ``unit`` is the parameter's unit (``"s"``, ``"B/s"``, ``"S/s"``, ``"FLOP/s"``, ``"Hz"``,
    ``"bit"``, ``"1"`` for dimensionless...). A bare number is taken to be in ``unit``; a suffix
    must be an SI prefix followed by exactly ``unit``, else :class:`CostModelError`.
    """
    match = _QUANTITY.match(str(text))
    if not match:
        raise CostModelError(f"cannot read {text!r} as a number with an optional unit ({unit})")
    value, suffix = float(match.group(1)), match.group(2)
    if not suffix or (unit == "1" and suffix == "1"):
        return value
    if unit != "1":
        for prefix, scale in _SI_PREFIX.items():
            if suffix == prefix + unit:
                return value * scale
    raise CostModelError(f"unit {suffix!r} of {text!r} is not {unit!r} "
                         f"(with an optional SI prefix)")


def with_overrides(obj, overrides: dict):
    """A copy of a parameter dataclass with fields replaced; values may be numbers or strings
    with units (:func:`parse_quantity`). Unknown names raise :class:`CostModelError`."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for name, value in overrides.items():
        if name not in fields or "unit" not in fields[name].metadata:
            known = sorted(k for k, f in fields.items() if "unit" in f.metadata)
            raise CostModelError(f"{type(obj).__name__} has no parameter {name!r}; known: {known}")
        meta = fields[name].metadata
        if isinstance(value, str):
            value = None if value.lower() == "none" and meta["optional"] else \
                parse_quantity(value, meta["unit"])
        if value is not None and meta["integer"] and float(value).is_integer():
            value = int(value)
        changes[name] = value
    overridden = tuple(sorted(set(obj.overridden) | set(changes)))
    return dataclasses.replace(obj, **changes, overridden=overridden)


# --- workloads ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Layer:
    """One linear layer ``W`` of shape ``(d_out, d_in)`` (plus a bias column if ``bias``).

    ``rows`` is the number of activation rows per step (batch size times tokens or nodes) that
    enter the forward/backward products and the factor sums.
    """

    d_in: int
    d_out: int
    rows: int
    bias: bool = True
    name: str = ""

    def __post_init__(self):
        for field in ("d_in", "d_out", "rows"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CostModelError(
                    f"Layer {self.name or ''}: {field} must be a positive integer, got {value!r}")
            if value > 1 << 26:
                raise CostModelError(f"Layer {self.name or ''}: {field}={value} exceeds 2**26")

    @property
    def a(self) -> int:
        """Size of the input factor A (d_in, plus one for the bias)."""
        return self.d_in + (1 if self.bias else 0)

    @property
    def g(self) -> int:
        """Size of the output-gradient factor G (d_out)."""
        return self.d_out

    @property
    def parameters(self) -> int:
        return self.a * self.g


@dataclasses.dataclass(frozen=True)
class Workload:
    """A named stack of layers; ``description`` states the shapes and where they come from."""

    name: str
    layers: tuple[Layer, ...]
    description: str = ""

    def __post_init__(self):
        if not self.layers:
            raise CostModelError(f"workload {self.name!r} has no layers")
        object.__setattr__(self, "layers", tuple(self.layers))

    @property
    def parameters(self) -> int:
        return sum(layer.parameters for layer in self.layers)


def width_sweep_workload(width: int, *, depth: int = 1, rows: int = 512) -> Workload:
    """``depth`` square layers of width ``width`` (d_in = d_out = width, no bias) with ``rows``
    activation rows: the stack on which asymptotic exponents and crossover widths are defined."""
    layers = tuple(Layer(width, width, rows, bias=False, name=f"l{i}") for i in range(depth))
    return Workload(f"width-{width}", layers, f"{depth} x ({width} -> {width}), {rows} rows")


def vit_workload(width: int, mlp: int, depth: int, *, batch: int, tokens: int, patch_dim: int,
                 classes: int, name: str) -> Workload:
    """A ViT encoder's linear layers: patch embedding, per block qkv / proj / fc1 / fc2, head.
    Rows = batch * tokens for the blocks, batch for the head (class token only)."""
    rows = batch * tokens
    layers = [Layer(patch_dim, width, batch * (tokens - 1), name="patch-embed")]
    for i in range(depth):
        layers += [Layer(width, 3 * width, rows, name=f"block{i}.qkv"),
                   Layer(width, width, rows, name=f"block{i}.proj"),
                   Layer(width, mlp, rows, name=f"block{i}.fc1"),
                   Layer(mlp, width, rows, name=f"block{i}.fc2")]
    layers.append(Layer(width, classes, batch, name="head"))
    return Workload(name, tuple(layers),
                    f"ViT: width {width}, MLP {mlp}, {depth} blocks, {tokens} tokens, batch "
                    f"{batch}, patch dim {patch_dim}, {classes} classes")


def gnn_workload(latent: int, steps: int, *, graphs: int, nodes_per_graph: int,
                 edges_per_graph: int, name: str) -> Workload:
    """A GraphNetwork (Battaglia et al. 2018) with MLP updates: per message-passing step an
    edge MLP on [edge, sender, receiver, global] (4 latent -> latent), a node MLP on [node,
    aggregated edges, global] (3 latent -> latent), a global MLP on [global, mean node, mean
    edge] (3 latent -> latent), each two layers (the second latent -> latent)."""
    edges, nodes = graphs * edges_per_graph, graphs * nodes_per_graph
    layers = []
    for i in range(steps):
        for part, d_in, rows in (("edge", 4 * latent, edges), ("node", 3 * latent, nodes),
                                 ("global", 3 * latent, graphs)):
            layers += [Layer(d_in, latent, rows, name=f"step{i}.{part}.0"),
                       Layer(latent, latent, rows, name=f"step{i}.{part}.1")]
    return Workload(name, tuple(layers),
                    f"GraphNetwork: latent {latent}, {steps} message-passing steps, {graphs} "
                    f"graphs/batch, {nodes_per_graph} nodes and {edges_per_graph} edges per graph")


#: The workloads of the speedup table. Shapes follow the public model definitions (ViT: Dosovitskiy
#: et al. 2021, S/16 and B/16 at 224x224: 197 tokens, patch dim 16*16*3 = 768; GNN: the AlgoPerf
#: ogbg-molpcba GraphNetwork has latent 256 and 5 steps; molpcba graphs average ~26 nodes and ~28
#: bonds, i.e. ~56 directed edges). Batch sizes are assumed (1024 images, 512 graphs). The wide
#: transformer (GPT-like width 4096) shows where the width trend leads; the digits MLP is what
#: our own K-FAC trains, small enough for the ECP5 emulation.
WORKLOADS = {
    "vit-s16": vit_workload(384, 1536, 12, batch=1024, tokens=197, patch_dim=768, classes=1000,
                            name="vit-s16"),
    "vit-b16": vit_workload(768, 3072, 12, batch=1024, tokens=197, patch_dim=768, classes=1000,
                            name="vit-b16"),
    "gnn-molpcba": gnn_workload(256, 5, graphs=512, nodes_per_graph=26, edges_per_graph=56,
                                name="gnn-molpcba"),
    "transformer-4096": vit_workload(4096, 16384, 4, batch=8, tokens=1024, patch_dim=4096,
                                     classes=4096, name="transformer-4096"),
    "digits-mlp": Workload("digits-mlp", (Layer(64, 32, 128, name="hidden"),
                                          Layer(32, 10, 128, name="output")),
                           "the MLP our K-FAC trains on sklearn digits (host_kfac/models.py: "
                           "64 -> 32 -> 10, batch 128 as host_kfac/train.py)"),
}


# --- hardware -------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DigitalHardware:
    """A digital machine: sustained rates of the operations K-FAC and Adam use.

    An operation of ``F`` FLOP touching ``B`` bytes takes ``latency + max(F / rate, B / bw)``;
    the latency of an inverse or eigendecomposition (several kernels, pivoting, host syncs) is
    ``factorization_latency_s``, that of a product or elementwise pass ``op_latency_s``.
    Rates are *effective* FLOP/s for the nominal FLOP counts of :func:`digital_op_seconds`
    (e.g. ``9 n**3`` for an eigendecomposition), so a slow library shows as a low rate.
    """

    name: str = "digital"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides
    matmul_flops_per_s: float = _param(14e12, "FLOP/s", "A100 datasheet 19.5 TFLOP/s FP32 at "
                                       "~70 % GEMM efficiency (efficiency assumed)", 1e6, 1e17)
    inverse_flops_per_s: float = _param(2e12, "FLOP/s", "assumed: LU inverse at ~10 % of FP32 "
                                        "peak on a GPU", 1e5, 1e17)
    eigh_flops_per_s: float = _param(3e11, "FLOP/s", "assumed: symmetric eigensolvers reach a "
                                     "few % of peak on GPUs (9 n**3 nominal FLOP; cf. "
                                     "pytorch/pytorch#60537, #174674 on eigh's GPU speed)",
                                     1e5, 1e17)
    memory_bytes_per_s: float = _param(1.5e12, "B/s", "A100 40 GB datasheet 1.555 TB/s HBM2",
                                       1e6, 1e15)
    op_latency_s: float = _param(1e-5, "s", "assumed: kernel launch and synchronisation", 0.0, 1.0)
    factorization_latency_s: float = _param(1e-4, "s", "assumed: a factorization is several "
                                            "kernels and host syncs", 0.0, 10.0)
    bytes_per_element: int = _param(4, "B", "float32", 1, 16, integer=True)

    def __post_init__(self):
        _validate(self)


@dataclasses.dataclass(frozen=True)
class AnalogSPU:
    """An analog SPU: ``cells`` coupled cells relaxing with time constant ``tau_relax_s``.

    A job loads an n x n coupling matrix through the host link and the DACs, lets the cells
    relax for ``burn_in_tau`` slowest-mode relaxation times, then digitizes the state every
    ``dt`` = the slower of the ADC conversion and the moment accumulation
    (:meth:`sample_interval_s`).
    """

    name: str = "analog SPU"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides
    cells: int | None = _param(None, "cells", "assumed: as many as the widest factor (the "
                               "paper's 'sufficient hardware parallelism'); a factor wider than "
                               "this runs digitally", 1, 1 << 24, integer=True, optional=True)
    max_rows: int | None = _param(None, "rows", "assumed unbounded; only used with raw factors "
                                  "(thermo_kfac_step(raw_factors=True)), where each factor is an "
                                  "analog crossbar of rows x n elements", 1, 1 << 30,
                                  integer=True, optional=True)
    devices: int = _param(1, "SPUs", "assumed: one SPU; layers and solves spread over several",
                          1, 1 << 16, integer=True)
    tau_relax_s: float = _param(1e-6, "s", "order of the RC time constants of the 8-cell analog "
                                "SPU of Melanson et al. 2023 (microseconds)", 1e-12, 1.0)
    dac_bits: int = _param(8, "bit", "8-bit inputs, the precision the paper's quantization "
                           "experiments show to be enough (seed summary)", 1, 32, integer=True)
    dac_rate_hz: float = _param(1e8, "S/s", "datasheet-typical 8-bit DAC update rate, assumed",
                                1e3, 1e11)
    dac_channels_per_cell: float = _param(1.0, "1", "assumed: one DAC per cell (rows load in "
                                          "parallel)", 1e-6, 1e6)
    adc_bits: int = _param(8, "bit", "as dac_bits", 1, 32, integer=True)
    adc_rate_hz: float = _param(1e7, "S/s", "datasheet-typical 8-bit SAR ADC, 10 MS/s, assumed",
                                1e3, 1e11)
    adc_channels_per_cell: float = _param(1.0, "1", "assumed: one ADC per cell", 1e-6, 1e6)
    accumulator_rate_hz: float = _param(5e8, "S/s", "assumed: one multiply-accumulate unit per "
                                        "moment at 500 MHz next to the ADCs, as our gateware "
                                        "accumulates on chip", 1e3, 1e11)
    link_bytes_per_s: float = _param(25e9, "B/s", "PCIe 4.0 x16 (31.5 GB/s) at ~80 % efficiency, "
                                     "assumed", 1e3, 1e13)
    link_latency_s: float = _param(2e-6, "s", "assumed: one PCIe round trip", 0.0, 1.0)
    max_samples_log2: int = _param(24, "1", "as thermospu's SPUConfig: accumulators of "
                                   "adc_bits + 24 (sum y) and 2 adc_bits + 24 (sum y y^T) bits",
                                   1, 40, integer=True)

    def __post_init__(self):
        _validate(self)

    def time_unit_s(self, n: int) -> float:
        """Relaxation time of the fastest (normalized) mode for an n x n problem (s)."""
        return self.tau_relax_s

    def fits(self, n: int) -> bool:
        return self.cells is None or n <= self.cells

    def transfer_s(self, elements: float, bits: int) -> float:
        """One transfer of ``elements`` codes of ``bits`` bits over the host link (s)."""
        return self.link_latency_s + elements * bits / 8 / self.link_bytes_per_s

    def load_matrix_s(self, n: int) -> float:
        """Host link plus DAC programming of n*n coupling codes (s)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return self.transfer_s(n * n, self.dac_bits) + math.ceil(n * n / dacs) / self.dac_rate_hz

    def load_rows_s(self, rows: int, n: int) -> float:
        """Host link plus DAC programming of a rows x n activation (or output-gradient) matrix
        whose Gram matrix is the factor (s)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return (self.transfer_s(rows * n, self.dac_bits)
                + math.ceil(rows * n / dacs) / self.dac_rate_hz)

    def load_vector_s(self, n: int) -> float:
        """DAC time of one right-hand side of n codes from the SPU's buffer (s); the host sends
        all right-hand sides of a layer in one transfer (see :func:`thermo_kfac_step`)."""
        dacs = max(1.0, self.dac_channels_per_cell * n)
        return math.ceil(n / dacs) / self.dac_rate_hz

    def sample_interval_s(self, n: int, moments: bool) -> float:
        """Time between samples: the ADC conversion of n cells, or the accumulation of the n*(n+1)/2
        second moments (one per accumulator clock, all in parallel), whichever is slower (s)."""
        adcs = max(1.0, self.adc_channels_per_cell * n)
        adc = math.ceil(n / adcs) / self.adc_rate_hz
        return max(adc, 1.0 / self.accumulator_rate_hz) if moments else adc

    @property
    def sum_bits(self) -> int:
        """Width of a first-moment accumulator (bits), as rtl/spec/config.py's sum_x_bits."""
        return self.adc_bits + self.max_samples_log2

    def read_moments_s(self, n: int) -> float:
        """Host link time of n first and n*(n+1)/2 second moments (s)."""
        return (self.transfer_s(n, self.sum_bits)
                + self.transfer_s(n * (n + 1) / 2, 2 * self.adc_bits + self.max_samples_log2))



@dataclasses.dataclass(frozen=True)
class EmulatedSPU(AnalogSPU):
    """A digital (FPGA) emulation of the SPU, like thermospu's gateware.

    Each Euler step costs ``G n + max(0, x_latency_cycles - (G - 1) lanes)`` clock cycles with
    ``G = ceil(n / lanes)`` (the SPUCore's schedule, measured in docs/cycles.md), or
    ``1 / steps_per_s`` when a board build measured it (docs/boards.md); the fastest mode
    relaxes in ``steps_per_time_unit`` steps. Matrices and results travel over the board's host
    link; a sample is one step.

    The board only holds ``cells``; with ``scale_to_width`` the model instead asks what the same
    clock and lanes would give with as many cells as the problem needs (cycles ~ n**2 / lanes).
    """

    name: str = "FPGA emulation"
    #: AnalogSPU parameters that an emulation does not use (its timing comes from the clock).
    unused_parameters = ("tau_relax_s", "dac_rate_hz", "dac_channels_per_cell", "adc_rate_hz",
                         "adc_channels_per_cell", "accumulator_rate_hz", "max_rows")
    clock_hz: float = _param(24e6, "Hz", "clock of the iCEBreaker build "
                             "(boards/icebreaker.py)", 1e3, 1e10)
    lanes: int = _param(1, "lanes", "multiply-accumulate lanes P (SPUConfig.lanes); default 1, "
                        "the iCEBreaker build's (boards/icebreaker.py)", 1, 1 << 20, integer=True)
    x_latency_cycles: int = _param(3, "cycles", "SPUCore's state-update latency "
                                   "(SPUCore.X_LATENCY), docs/cycles.md (bench/bench_cycles.py)",
                                   0, 1 << 20, integer=True)
    steps_per_s: float | None = _param(None, "steps/s", "none: from the clock (cycles per step / "
                                       "clock_hz); set it to a measured rate (docs/boards.md, or "
                                       "docs/boards_bench.md when bench/bench_boards.py has been "
                                       "run)", 1.0, 1e12, optional=True)
    steps_per_time_unit: float = _param(1.5, "steps", "our driver picks h = 2**-k with "
                                        "h * lambda_max in (1/2, 1], i.e. 1 to 2 steps per "
                                        "relaxation time of the fastest mode", 1.0, 1e9)
    scale_to_width: bool = True

    def cycles_per_step(self, n: int) -> int:
        """Clock cycles of one Euler step of an n-cell problem (all ``cells`` on the board)."""
        cells = n if self.scale_to_width or self.cells is None else self.cells
        groups = math.ceil(cells / self.lanes)
        return groups * cells + max(0, self.x_latency_cycles - (groups - 1) * self.lanes)

    def step_seconds(self, n: int) -> float:
        """One Euler step (s)."""
        if self.steps_per_s is not None:
            if self.scale_to_width and self.cells is not None:
                return (self.cycles_per_step(n) / self.cycles_per_step(self.cells)
                        / self.steps_per_s)
            return 1.0 / self.steps_per_s
        return self.cycles_per_step(n) / self.clock_hz

    def time_unit_s(self, n: int) -> float:
        return self.step_seconds(n) * self.steps_per_time_unit

    def fits(self, n: int) -> bool:
        return self.scale_to_width or self.cells is None or n <= self.cells

    def load_matrix_s(self, n: int) -> float:
        return self.transfer_s(n * n, self.dac_bits)

    def load_vector_s(self, n: int) -> float:
        return 0.0          # the bias registers are written from the on-board buffer

    def sample_interval_s(self, n: int, moments: bool) -> float:
        return self.step_seconds(n)


@dataclasses.dataclass(frozen=True)
class KFACSchedule:
    """How often K-FAC refreshes its factors and their inverses, and how it preconditions."""

    factor_interval: int = _param(1, "steps", "kfac-pytorch default factor_update_steps=1", 1,
                                  1 << 20, integer=True)
    inverse_interval: int = _param(10, "steps", "assumed; K-FAC implementations refresh "
                                   "inverses every 10-100 steps", 1, 1 << 20, integer=True)
    digital_method: str = "eigen"   # "eigen" (kfac-pytorch's default) or "inverse"
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides

    def __post_init__(self):
        _validate(self)
        if self.digital_method not in ("eigen", "inverse"):
            raise CostModelError(f"digital_method must be 'eigen' or 'inverse', got "
                                 f"{self.digital_method!r}")


@dataclasses.dataclass(frozen=True)
class SolverAccuracy:
    """What the SPU is asked for: condition number of the damped factors and target error."""

    condition_number: float = _param(100.0, "1", "assumed; K-FAC damping gamma bounds it by "
                                     "1 + lambda_max / gamma", 1.0, 1e12)
    target_error: float = _param(0.1, "1", "assumed: relative error of the preconditioned "
                                 "gradient K-FAC tolerates (cf. the paper's 8-bit robustness)",
                                 1e-8, 0.99)
    burn_in_tau: float = _param(8.0, "relaxation times", "our driver's burn-in "
                                "(autorange.plan_steps: e**-8 ~ 3e-4 of the start remains)",
                                0.0, 1e6)
    noise_to_signal: float = _param(0.1, "1", "assumed: solves run cold, per-sample noise 10 % "
                                    "of the solution, so eps = 0.1 needs one effective sample "
                                    "(our driver runs hot: ~1)", 0.0, 1e6)
    source: str = ""                 # where this profile's non-default values come from
    overridden: tuple = ()           # parameters changed by with_overrides

    def __post_init__(self):
        _validate(self)


# --- FLOP counts and their times ------------------------------------------------------------------

def digital_op_seconds(hw: DigitalHardware, op: str, *, m: int = 0, k: int = 0, n: int = 0,
                       elements: int = 0, words_moved: int = 0) -> float:
    """Time (s) of one digital operation.

    ``op``: ``"matmul"`` (m x k times k x n: 2mkn FLOP), ``"inverse"`` (n x n: 2 n**3, LU),
    ``"eigh"`` (n x n symmetric eigendecomposition with vectors: 9 n**3, Golub & Van Loan),
    ``"elementwise"`` (``elements`` values, ``words_moved`` words read or written).
    """
    b = hw.bytes_per_element
    if op == "matmul":
        flops, moved, rate = 2.0 * m * k * n, (m * k + k * n + m * n) * b, hw.matmul_flops_per_s
    elif op == "inverse":
        flops, moved, rate = 2.0 * n**3, 2 * n * n * b, hw.inverse_flops_per_s
    elif op == "eigh":
        flops, moved, rate = 9.0 * n**3, 2 * n * n * b, hw.eigh_flops_per_s
    elif op == "elementwise":
        flops, moved, rate = 2.0 * elements, words_moved * b, hw.matmul_flops_per_s
    else:
        raise CostModelError(f"unknown digital operation {op!r}")
    latency = hw.factorization_latency_s if op in ("inverse", "eigh") else hw.op_latency_s
    return latency + max(flops / rate, moved / hw.memory_bytes_per_s)


def _effective_samples_time(spu: AnalogSPU, n: int, kappa: float, effective: float,
                            moments: bool) -> tuple[float, float]:
    """(samples, seconds) to collect ``effective`` independent samples of the slowest mode."""
    dt = spu.sample_interval_s(n, moments)
    rho = math.exp(-dt / (kappa * spu.time_unit_s(n)))
    samples = math.ceil(effective * (1 + rho) / (1 - rho)) if rho < 1 else math.inf
    return samples, samples * dt


def spu_inverse_seconds(spu: AnalogSPU, n: int, acc: SolverAccuracy) -> dict:
    """Phases (s) of inverting one n x n matrix on the SPU: load, burn-in, sampling, readout.

    Effective samples ``(n + 1) / eps**2``: the relative Frobenius error of a sample covariance.
    """
    kappa = acc.condition_number
    samples, sampling = _effective_samples_time(spu, n, kappa, (n + 1) / acc.target_error**2,
                                                True)
    return {"load": spu.load_matrix_s(n),
            "burn_in": acc.burn_in_tau * kappa * spu.time_unit_s(n),
            "sampling": sampling, "readout": spu.read_moments_s(n), "samples": samples}


def spu_solve_seconds(spu: AnalogSPU, n: int, acc: SolverAccuracy) -> dict:
    """Phases (s) of one solve A x = b on the SPU with A loaded and b in the SPU's buffer: put b
    on the DACs, relax from the previous solution, average (the mean stays in the on-chip
    accumulators until the layer's results go back in one transfer). Effective samples
    ``max(1, (noise_to_signal/eps)**2)``."""
    kappa = acc.condition_number
    effective = max(1.0, (acc.noise_to_signal / acc.target_error) ** 2)
    samples, sampling = _effective_samples_time(spu, n, kappa, effective, False)
    return {"rhs_dac": spu.load_vector_s(n),
            "burn_in": acc.burn_in_tau * kappa * spu.time_unit_s(n),
            "sampling": sampling, "samples": samples}


# --- per-step costs -------------------------------------------------------------------------------

@dataclasses.dataclass
class PhaseCosts:
    """Seconds per training step by phase (amortized over the K-FAC intervals), the optimizer
    state held in digital memory (bytes, beyond weights and gradients) and notes."""

    optimizer: str
    seconds: dict
    memory_bytes: float
    notes: list = dataclasses.field(default_factory=list)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def optimizer_s(self) -> float:
        """Time per step without the forward and backward passes."""
        return self.total_s - self.seconds.get("forward_backward", 0.0)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds


def _forward_backward(hw, layer, costs: PhaseCosts) -> None:
    # forward X W^T, backward dX = dY W and dW = dY^T X: three products of 2 m a g FLOP each.
    costs.add("forward_backward", 3 * digital_op_seconds(hw, "matmul", m=layer.rows,
                                                         k=layer.a, n=layer.g))


def _elementwise_update(hw, layer, costs: PhaseCosts, flops_per_param: int, words: int) -> None:
    costs.add("update", digital_op_seconds(hw, "elementwise",
                                           elements=flops_per_param * layer.parameters // 2,
                                           words_moved=words * layer.parameters))


def adam_step(workload: Workload, hw: DigitalHardware, *, backprop: bool = True) -> PhaseCosts:
    """Adam: first and second moment per parameter (reads p, g, m, v; writes p, m, v)."""
    costs = PhaseCosts("adam", {}, 0.0)
    for layer in workload.layers:
        if backprop:
            _forward_backward(hw, layer, costs)
        _elementwise_update(hw, layer, costs, 12, 7)
        costs.memory_bytes += 2 * layer.parameters * hw.bytes_per_element
    return costs


def sgd_step(workload: Workload, hw: DigitalHardware, *, backprop: bool = True) -> PhaseCosts:
    """SGD with momentum (reads p, g, buf; writes p, buf)."""
    costs = PhaseCosts("sgd", {}, 0.0)
    for layer in workload.layers:
        if backprop:
            _forward_backward(hw, layer, costs)
        _elementwise_update(hw, layer, costs, 4, 5)
        costs.memory_bytes += layer.parameters * hw.bytes_per_element
    return costs


def _factors(hw, layer, schedule, costs: PhaseCosts) -> None:
    t = sum(digital_op_seconds(hw, "matmul", m=s, k=layer.rows, n=s) for s in (layer.a, layer.g))
    # exponential moving average of both factors: read old, read new, write.
    t += digital_op_seconds(hw, "elementwise", elements=2 * (layer.a**2 + layer.g**2),
                            words_moved=3 * (layer.a**2 + layer.g**2))
    costs.add("factors", t / schedule.factor_interval)


def _digital_layer(hw, layer, schedule, costs: PhaseCosts) -> None:
    """Digital K-FAC's inversion, preconditioning and memory for one layer."""
    a, g, b = layer.a, layer.g, hw.bytes_per_element
    if schedule.digital_method == "eigen":
        inv = digital_op_seconds(hw, "eigh", n=a) + digital_op_seconds(hw, "eigh", n=g)
        # Q_G^T dW Q_A, divide by (lambda_G lambda_A^T + damping), Q_G (.) Q_A^T.
        pre = 2 * (digital_op_seconds(hw, "matmul", m=g, k=g, n=a)
                   + digital_op_seconds(hw, "matmul", m=g, k=a, n=a))
        pre += digital_op_seconds(hw, "elementwise", elements=2 * a * g, words_moved=3 * a * g)
        memory = (2 * (a * a + g * g) + a + g) * b
    else:
        inv = digital_op_seconds(hw, "inverse", n=a) + digital_op_seconds(hw, "inverse", n=g)
        pre = (digital_op_seconds(hw, "matmul", m=g, k=g, n=a)
               + digital_op_seconds(hw, "matmul", m=g, k=a, n=a))
        memory = 2 * (a * a + g * g) * b
    costs.add("inversion", inv / schedule.inverse_interval)
    costs.add("precondition", pre)
    costs.memory_bytes += memory + layer.parameters * b      # plus the momentum buffer


def kfac_step(workload: Workload, hw: DigitalHardware, schedule: KFACSchedule = KFACSchedule(),
              *, backprop: bool = True) -> PhaseCosts:
    """Digital K-FAC: factors, inversion (eigen or inverse) every ``inverse_interval`` steps,
    preconditioning and a momentum update every step."""
    costs = PhaseCosts(f"kfac-{schedule.digital_method}", {}, 0.0)
    for layer in workload.layers:
        if backprop:
            _forward_backward(hw, layer, costs)
        _factors(hw, layer, schedule, costs)
        _digital_layer(hw, layer, schedule, costs)
        _elementwise_update(hw, layer, costs, 4, 5)
    return costs


def thermo_kfac_step(workload: Workload, hw: DigitalHardware, spu: AnalogSPU,
                     schedule: KFACSchedule = KFACSchedule(),
                     accuracy: SolverAccuracy = SolverAccuracy(), *, method: int = 2,
                     raw_factors: bool = False, overlap: bool = False,
                     backprop: bool = True) -> PhaseCosts:
    """Thermodynamic K-FAC with the SPU doing the inversions (``method=1``) or the solves
    (``method=2``).

    Method 1: every ``inverse_interval`` steps both factors of every layer are inverted on the
    SPU (covariance sampling); the host keeps the inverses and multiplies ``G^-1 dW A^-1`` every
    step. Method 2: the factors are loaded every ``inverse_interval`` steps; every step the SPU
    solves ``G V = dW`` (``a`` right-hand sides) and ``A U^T = V^T`` (``g`` right-hand sides),
    each pass's right-hand sides sent in one transfer and its solutions read in one, and the
    host keeps only the factors. SPU jobs of one step run one after another on each of
    ``spu.devices`` SPUs, spread evenly. Host and SPU run one after the other, unless
    ``overlap``: then the SPU works while the host computes (Method 1's inversions on stale
    factors, Method 2's solves of a layer while the host back-propagates the layers below) and
    only the SPU time beyond the host's time per step is charged (an optimistic bound). A layer
    with a factor wider than ``spu.cells`` runs digital K-FAC instead (noted).

    ``raw_factors`` (Method 2 only): instead of building A and G on the host, send the batch's
    activations and output gradients (rows x a and rows x g) every ``factor_interval`` steps and
    let the SPU couple through their Gram matrices (no moving average then, and no factor held
    on the host). A layer with more rows than ``spu.max_rows`` builds its factors digitally
    (noted).
    """
    if method not in (1, 2):
        raise CostModelError(f"method must be 1 (inversion) or 2 (linear solves), got {method!r}")
    if raw_factors and method != 2:
        raise CostModelError("raw_factors is modelled for Method 2 only")
    costs = PhaseCosts(f"thermo-m{method}{'-raw' if raw_factors else ''}", {}, 0.0)
    b = hw.bytes_per_element
    spu_phases: dict[str, float] = {}
    fallback = too_many_rows = 0
    for layer in workload.layers:
        if backprop:
            _forward_backward(hw, layer, costs)
        _elementwise_update(hw, layer, costs, 4, 5)
        a, g = layer.a, layer.g
        raw = raw_factors and (spu.max_rows is None or layer.rows <= spu.max_rows)
        too_many_rows += raw_factors and not raw
        if not raw:
            _factors(hw, layer, schedule, costs)
        if not (spu.fits(a) and spu.fits(g)):
            fallback += 1
            if raw:
                _factors(hw, layer, schedule, costs)
            _digital_layer(hw, layer, schedule, costs)
            continue
        if method == 1:
            for n in (a, g):
                job = spu_inverse_seconds(spu, n, accuracy)
                for phase in ("load", "burn_in", "sampling", "readout"):
                    spu_phases[phase] = spu_phases.get(phase, 0.0) + \
                        job[phase] / schedule.inverse_interval
            # rebuild the inverse from the moments (scale, subtract the mean outer product).
            costs.add("reconstruct", digital_op_seconds(
                hw, "elementwise", elements=2 * (a * a + g * g),
                words_moved=2 * (a * a + g * g)) / schedule.inverse_interval)
            costs.add("precondition", digital_op_seconds(hw, "matmul", m=g, k=g, n=a)
                      + digital_op_seconds(hw, "matmul", m=g, k=a, n=a))
            costs.memory_bytes += 2 * (a * a + g * g) * b
        else:
            for n in (a, g):
                load = (spu.load_rows_s(layer.rows, n) / schedule.factor_interval if raw
                        else spu.load_matrix_s(n) / schedule.inverse_interval)
                spu_phases["load"] = spu_phases.get("load", 0.0) + load
            for n, right_hand_sides in ((g, a), (a, g)):
                job = spu_solve_seconds(spu, n, accuracy)
                for phase in ("rhs_dac", "burn_in", "sampling"):
                    spu_phases[phase] = spu_phases.get(phase, 0.0) + right_hand_sides * job[phase]
                # the layer's right-hand sides in, its solutions out: one transfer each way
                spu_phases["link"] = spu_phases.get("link", 0.0) + \
                    spu.transfer_s(a * g, spu.dac_bits) + spu.transfer_s(a * g, spu.sum_bits)
            if not raw:
                costs.memory_bytes += (a * a + g * g) * b
        costs.memory_bytes += layer.parameters * b       # momentum buffer
    host_s = costs.total_s
    spu_s = sum(spu_phases.values()) / spu.devices
    # with overlap, each SPU phase keeps its share of the SPU time the host cannot hide
    exposed = max(0.0, spu_s - host_s) / spu_s if overlap and spu_s > 0 else 1.0
    for phase, seconds in spu_phases.items():
        costs.add(f"spu_{phase}", seconds / spu.devices * exposed)
    if overlap and spu_s > 0:
        costs.notes.append(f"{min(host_s, spu_s) / spu_s:.0%} of the SPU time hidden behind "
                           f"the host")
    if fallback:
        costs.notes.append(f"{fallback} of {len(workload.layers)} layers exceed "
                           f"{spu.cells} cells and run digital K-FAC")
    if too_many_rows:
        costs.notes.append(f"{too_many_rows} of {len(workload.layers)} layers have more than "
                           f"{spu.max_rows} rows and build their factors digitally")
    return costs


def all_optimizers(workload: Workload, hw: DigitalHardware, spu: AnalogSPU,
                   schedule: KFACSchedule = KFACSchedule(),
                   accuracy: SolverAccuracy = SolverAccuracy(), *,
                   overlap: bool = False, backprop: bool = True) -> dict[str, PhaseCosts]:
    """Per-step costs of Adam, SGD, digital K-FAC and thermodynamic K-FAC Methods 1 and 2
    (Method 2 also with raw factors: ``"thermo-m2-raw"``)."""
    return {
        "adam": adam_step(workload, hw, backprop=backprop),
        "sgd": sgd_step(workload, hw, backprop=backprop),
        "kfac": kfac_step(workload, hw, schedule, backprop=backprop),
        "thermo-m1": thermo_kfac_step(workload, hw, spu, schedule, accuracy, method=1,
                                      overlap=overlap, backprop=backprop),
        "thermo-m2": thermo_kfac_step(workload, hw, spu, schedule, accuracy, method=2,
                                      overlap=overlap, backprop=backprop),
        "thermo-m2-raw": thermo_kfac_step(workload, hw, spu, schedule, accuracy, method=2,
                                          raw_factors=True, overlap=overlap, backprop=backprop),
    }


# --- asymptotics ----------------------------------------------------------------------------------

#: Exponent p of each per-step cost ~ n**p at fixed rows, intervals and hardware (width sweep).
ANALYTIC_EXPONENTS = {
    ("kfac", "inversion"): 3, ("kfac", "precondition"): 3, ("kfac", "factors"): 2,
    ("kfac", "total"): 3, ("adam", "total"): 2, ("sgd", "total"): 2,
    ("thermo-m1", "precondition"): 3, ("thermo-m1", "total"): 3,
    ("thermo-m1", "spu_sampling"): 1, ("thermo-m1", "spu_load"): 2,
    ("thermo-m2", "spu_burn_in"): 1, ("thermo-m2", "spu_sampling"): 1,
    ("thermo-m2", "spu_rhs_dac"): 1, ("thermo-m2", "spu_load"): 2, ("thermo-m2", "spu_link"): 2,
    ("thermo-m2", "total"): 2, ("thermo-m2-raw", "spu_load"): 1, ("thermo-m2-raw", "total"): 2,
}


def fit_exponent(widths: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(width)."""
    if len(widths) != len(seconds) or len(widths) < 2:
        raise CostModelError("need at least two (width, seconds) pairs of equal length")
    xs = [math.log(w) for w in widths]
    ys = [math.log(s) for s in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def crossover_width(hw: DigitalHardware, spu: AnalogSPU, schedule: KFACSchedule = KFACSchedule(),
                    accuracy: SolverAccuracy = SolverAccuracy(), *, method: int = 2,
                    rows: int = 512, lo: int = 2, hi: int = 1 << 20,
                    backprop: bool = False) -> float | None:
    """Width n of a square layer (``rows`` activation rows) from which on thermodynamic K-FAC
    (``method``) takes less time per step than digital K-FAC, up to ``hi``; None if it is
    slower at ``hi``. At small widths per-call latencies can favour either side, so the search
    takes the *last* change of sign on a grid of sqrt(2) steps, then bisects it to one unit."""
    def gain(n: int) -> float:
        w = width_sweep_workload(n, rows=rows)
        return (kfac_step(w, hw, schedule, backprop=backprop).total_s
                - thermo_kfac_step(w, hw, spu, schedule, accuracy, method=method,
                                   backprop=backprop).total_s)
    if gain(hi) <= 0:
        return None
    grid = sorted({int(round(lo * 2 ** (i / 2)))
                   for i in range(int(2 * math.log2(hi / lo)) + 1)} | {hi})
    slower = [n for n in grid if gain(n) <= 0]
    if not slower:
        return float(lo)
    low = slower[-1]
    high = grid[grid.index(low) + 1]
    while high - low > 1:
        mid = (low + high) // 2
        if gain(mid) > 0:
            high = mid
        else:
            low = mid
    return float(high)


# --- hardware profiles ----------------------------------------------------------------------------

#: A GPU of the A100 class: the defaults of :class:`DigitalHardware` (datasheet peak and bandwidth,
#: assumed efficiencies and latencies).
GPU_A100 = DigitalHardware(name="GPU (A100-class, FP32)")

#: This machine's 2-core CPU with torch 2.13 float32, fitted by bench/bench_costmodel_calibration.py
#: (docs/costmodel_calibration.md); rerun the bench and pass --calibration to use fresh numbers.
CPU_THIS_MACHINE = DigitalHardware(name="this CPU (2 threads, torch float32, measured)",
                                   matmul_flops_per_s=3.69e11, inverse_flops_per_s=1.47e11,
                                   eigh_flops_per_s=1.51e11, memory_bytes_per_s=3.54e10,
                                   op_latency_s=3.4e-6, factorization_latency_s=5.1e-5,
                                   bytes_per_element=4,
                                   source="measured by bench/bench_costmodel_calibration.py "
                                          "on 2026-12-02 (machine idle, load 0.7)")

#: The projected analog SPU (defaults of :class:`AnalogSPU`).
ANALOG_SPU_PROJECTED = AnalogSPU(name="analog SPU (projected)")

#: A what-if SPU with nanosecond cells (integrated oscillators at ~GHz; assumed, no prototype yet):
#: how fast the cells must be for the advantage to reach today's layer widths.
ANALOG_SPU_WHATIF = AnalogSPU(name="analog SPU (what-if: 1 ns cells)", tau_relax_s=1e-9,
                              source="what-if, assumed")

# The FPGA presets restate the boards' Board records (boards/icebreaker.py ICEBREAKER,
# boards/ulx3s.py ULX3S: config and clock_hz) instead of importing them: thermospu.boards pulls in
# Amaranth and amaranth-boards (~0.15 s), which this arithmetic-only module does not need.
# tests/test_costmodel.py checks that the numbers below equal the boards' (and the UART's
# 3 Mbaud 8N1 = 3e5 bytes/s). docs/boards.md has the builds' measurements.

#: The iCEBreaker's default build (boards/icebreaker.py: N = 32 cells, P = 1 lane, 24 MHz,
#: UART 3 Mbaud), built and timing met (docs/boards.md: Fmax 24.3 MHz), so its rate is the
#: clock's: 1024 cycles per step (rtl.core.step_cycles), 2.34e4 Euler steps/s.
FPGA_ICE40_EMULATION = EmulatedSPU(
    name="FPGA emulation, iCEBreaker default (N=32, P=1, 24 MHz; built, timing met)",
    cells=32, clock_hz=24e6, lanes=1, dac_bits=8, adc_bits=8, max_samples_log2=16,
    link_bytes_per_s=3e5, link_latency_s=1e-3,
    source="boards/icebreaker.py default: N=32, P=1, a_bits=8, out_bits=8, 2**16 samples, "
           "24 MHz clock, met by the build (Fmax 24.3 MHz, docs/boards.md); UART 3 Mbaud 8N1; "
           "1 ms turnaround assumed")

#: The ULX3S's default build (boards/ulx3s.py: N = 128 cells, P = 32 lanes, 30 MHz, UART 3 Mbaud),
#: built and timing met (docs/boards.md: Fmax 40.2 MHz), so its rate is the clock's: 512 cycles
#: per step, 5.86e4 Euler steps/s.
FPGA_ECP5_EMULATION = EmulatedSPU(
    name="FPGA emulation, ULX3S default (N=128, P=32, 30 MHz; built, timing met)",
    cells=128, clock_hz=30e6, lanes=32, dac_bits=18, adc_bits=16, max_samples_log2=24,
    link_bytes_per_s=3e5, link_latency_s=1e-3,
    source="boards/ulx3s.py default: N=128, P=32, a_bits=18, out_bits=16, 2**24 samples, "
           "30 MHz clock, met by the build (Fmax 40.2 MHz, docs/boards.md); UART 3 Mbaud 8N1; "
           "1 ms turnaround assumed")

#: The ULX3S build that CI makes (gateware_tests/test_board_build.py: the board's default with
#: N = 16, P = 4) and docs/boards.md measured: 30 MHz met (Fmax 48.6 MHz), 64 cycles per step,
#: 4.69e5 Euler steps/s at 30 MHz.
FPGA_ECP5_CI_EMULATION = EmulatedSPU(
    name="FPGA emulation, ULX3S CI build (N=16, P=4, 30 MHz; measured)",
    cells=16, clock_hz=30e6, lanes=4, dac_bits=18, adc_bits=16, max_samples_log2=24,
    steps_per_s=4.69e5, link_bytes_per_s=3e5, link_latency_s=1e-3,
    source="docs/boards.md, measured: ULX3S build N=16, P=4, 18/18/18/16 bits, 30 MHz timing "
           "met (Fmax 48.6 MHz), 64 cycles per step, 4.69e5 Euler steps/s at 30 MHz; "
           "UART 3 Mbaud 8N1; 1 ms turnaround assumed")
