"""Cost model: digital K-FAC, thermodynamic K-FAC (Methods 1 and 2) on an SPU, and Adam/SGD.

Every function here is arithmetic on documented parameters: nothing is run. The model answers
"how long does one training step take, and how much optimizer memory does it hold" for a stack of
linear layers, on a digital machine (:class:`DigitalHardware`) alone or together with an analog
SPU (:class:`AnalogSPU`) or our FPGA emulation of one (:class:`EmulatedSPU`).
``docs/costmodel.md`` explains the model, its calibration and its predictions; ``thermospu
costmodel`` prints them.

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

One module per idea; everything public is importable from this package:

- :mod:`.units`: parameters with units, sources and ranges; overrides from strings with units.
- :mod:`.workloads`: layer stacks, the K-FAC schedule, the accuracy asked of the SPU.
- :mod:`.hardware`: the digital machine, the analog SPU, the FPGA emulation (whose steps take
  the gateware's own cycle model, :func:`thermospu.rtl.gateware.core.step_cycles`).
- :mod:`.operations`: FLOP counts and SPU job times.
- :mod:`.step_costs`: per-step costs of each optimizer.
- :mod:`.asymptotics`: exponents and crossover widths.
- :mod:`.presets`: named profiles; the FPGA ones read from the boards' records
  (:func:`thermospu.boards.board.get_board`).
"""

from .asymptotics import ANALYTIC_EXPONENTS, crossover_width, fit_exponent
from .hardware import AnalogSPU, DigitalHardware, EmulatedSPU
from .operations import digital_op_seconds, spu_inverse_seconds, spu_solve_seconds
from .presets import (ANALOG_SPU_PROJECTED, ANALOG_SPU_WHATIF, CPU_THIS_MACHINE,
                      FPGA_ECP5_CI_EMULATION, FPGA_ECP5_EMULATION, FPGA_ICE40_EMULATION,
                      GPU_A100)
from .step_costs import (PhaseCosts, adam_step, all_optimizers, kfac_step, sgd_step,
                         thermo_kfac_step)
from .units import CostModelError, parameter_table, parse_quantity, with_overrides
from .workloads import (WORKLOADS, KFACSchedule, Layer, SolverAccuracy, Workload, gnn_workload,
                        vit_workload, width_sweep_workload)

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
