"""Per-step costs of Adam, SGD, digital K-FAC and thermodynamic K-FAC (Methods 1 and 2).

Each function returns a :class:`PhaseCosts`: seconds per training step by phase, amortized over
the K-FAC intervals of :class:`~.workloads.KFACSchedule` (factors every ``T_f`` steps, inverses
every ``T_i``), and the optimizer state held in digital memory (bytes). The phases and their
FLOP are tabulated in the package's docstring (:mod:`thermospu.host_kfac.costmodel`).
"""

from __future__ import annotations

import dataclasses

from .hardware import AnalogSPU, DigitalHardware
from .operations import digital_op_seconds, spu_inverse_seconds, spu_solve_seconds
from .units import CostModelError
from .workloads import KFACSchedule, Layer, SolverAccuracy, Workload

__all__ = ["PhaseCosts", "adam_step", "sgd_step", "kfac_step", "thermo_kfac_step",
           "all_optimizers"]


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
        """Time per step, all phases (s)."""
        return sum(self.seconds.values())

    @property
    def optimizer_s(self) -> float:
        """Time per step without the forward and backward passes."""
        return self.total_s - self.seconds.get("forward_backward", 0.0)

    def add(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` per step to ``phase``."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds


def _forward_backward(hw: DigitalHardware, layer: Layer, costs: PhaseCosts) -> None:
    """The layer's forward and backward products (s per step) into ``costs``."""
    # forward X W^T, backward dX = dY W and dW = dY^T X: three products of 2 m a g FLOP each.
    costs.add("forward_backward", 3 * digital_op_seconds(hw, "matmul", m=layer.rows,
                                                         k=layer.a, n=layer.g))


def _elementwise_update(hw: DigitalHardware, layer: Layer, costs: PhaseCosts,
                        flops_per_param: int, words: int) -> None:
    """An update of ``flops_per_param`` FLOP and ``words`` words moved per weight."""
    costs.add("update", digital_op_seconds(hw, "elementwise",
                                           elements=flops_per_param * layer.parameters // 2,
                                           words_moved=words * layer.parameters))


def _first_order_step(name: str, workload: Workload, hw: DigitalHardware, backprop: bool,
                      flops_per_param: int, words: int, buffers: int) -> PhaseCosts:
    """An optimizer that only updates elementwise: ``flops_per_param`` FLOP and ``words`` words
    moved per weight, ``buffers`` state values held per weight."""
    costs = PhaseCosts(name, {}, 0.0)
    for layer in workload.layers:
        if backprop:
            _forward_backward(hw, layer, costs)
        _elementwise_update(hw, layer, costs, flops_per_param, words)
        costs.memory_bytes += buffers * layer.parameters * hw.bytes_per_element
    return costs


def adam_step(workload: Workload, hw: DigitalHardware, *, backprop: bool = True) -> PhaseCosts:
    """Adam: first and second moment per parameter (reads p, g, m, v; writes p, m, v)."""
    return _first_order_step("adam", workload, hw, backprop, 12, 7, buffers=2)


def sgd_step(workload: Workload, hw: DigitalHardware, *, backprop: bool = True) -> PhaseCosts:
    """SGD with momentum (reads p, g, buf; writes p, buf)."""
    return _first_order_step("sgd", workload, hw, backprop, 4, 5, buffers=1)


def _factors(hw: DigitalHardware, layer: Layer, schedule: KFACSchedule,
             costs: PhaseCosts) -> None:
    """Building both factors on the host every ``factor_interval`` steps (s per step)."""
    t = sum(digital_op_seconds(hw, "matmul", m=s, k=layer.rows, n=s) for s in (layer.a, layer.g))
    # exponential moving average of both factors: read old, read new, write.
    t += digital_op_seconds(hw, "elementwise", elements=2 * (layer.a**2 + layer.g**2),
                            words_moved=3 * (layer.a**2 + layer.g**2))
    costs.add("factors", t / schedule.factor_interval)


def _digital_layer(hw: DigitalHardware, layer: Layer, schedule: KFACSchedule,
                   costs: PhaseCosts) -> None:
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


def _add_phase(spu_phases: dict, phase: str, seconds: float) -> None:
    """Add ``seconds`` of SPU time to ``phase`` in ``spu_phases`` (phase -> s per step)."""
    spu_phases[phase] = spu_phases.get(phase, 0.0) + seconds


def _method1_layer(hw: DigitalHardware, spu: AnalogSPU, layer: Layer, schedule: KFACSchedule,
                   accuracy: SolverAccuracy, costs: PhaseCosts, spu_phases: dict) -> None:
    """Method 1 for one layer: both factors inverted on the SPU every ``inverse_interval``
    steps (SPU seconds into ``spu_phases``), the host rebuilding and applying the inverses."""
    a, g, b = layer.a, layer.g, hw.bytes_per_element
    for n in (a, g):
        job = spu_inverse_seconds(spu, n, accuracy)
        for phase in ("load", "burn_in", "sampling", "readout"):
            _add_phase(spu_phases, phase, job[phase] / schedule.inverse_interval)
    # rebuild the inverse from the moments (scale, subtract the mean outer product).
    costs.add("reconstruct", digital_op_seconds(
        hw, "elementwise", elements=2 * (a * a + g * g),
        words_moved=2 * (a * a + g * g)) / schedule.inverse_interval)
    costs.add("precondition", digital_op_seconds(hw, "matmul", m=g, k=g, n=a)
              + digital_op_seconds(hw, "matmul", m=g, k=a, n=a))
    costs.memory_bytes += 2 * (a * a + g * g) * b


def _method2_layer(hw: DigitalHardware, spu: AnalogSPU, layer: Layer, schedule: KFACSchedule,
                   accuracy: SolverAccuracy, costs: PhaseCosts, spu_phases: dict,
                   raw: bool) -> None:
    """Method 2 for one layer: the factors (or, ``raw``, the rows they are built from) loaded,
    then ``a`` solves with G and ``g`` solves with A every step (SPU seconds into
    ``spu_phases``); the host holds the factors unless ``raw``."""
    a, g = layer.a, layer.g
    for n in (a, g):
        load = (spu.load_rows_s(layer.rows, n) / schedule.factor_interval if raw
                else spu.load_matrix_s(n) / schedule.inverse_interval)
        _add_phase(spu_phases, "load", load)
    for n, right_hand_sides in ((g, a), (a, g)):
        job = spu_solve_seconds(spu, n, accuracy)
        for phase in ("rhs_dac", "burn_in", "sampling"):
            _add_phase(spu_phases, phase, right_hand_sides * job[phase])
        # the layer's right-hand sides in, its solutions out: one transfer each way
        _add_phase(spu_phases, "link", spu.transfer_s(a * g, spu.dac_bits))
        _add_phase(spu_phases, "link", spu.transfer_s(a * g, spu.sum_bits))
    if not raw:
        costs.memory_bytes += (a * a + g * g) * hw.bytes_per_element


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
            _method1_layer(hw, spu, layer, schedule, accuracy, costs, spu_phases)
        else:
            _method2_layer(hw, spu, layer, schedule, accuracy, costs, spu_phases, raw)
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
