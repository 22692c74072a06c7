"""Clocks and pins of the boards: PLL solvers, the ``sync`` domain and pin buffers.

Each board has one oscillator (iCEBreaker 12 MHz, ULX3S 25 MHz) feeding one PLL whose output is
the ``sync`` domain: the UART, protocol engine and SPU core all run on it. ``sync`` is held in
reset until the PLL reports lock (and for a few cycles after, through a reset synchroniser).

The solvers search the PLL's divider ranges exhaustively (as ``icepll`` and ``ecppll`` from
Project IceStorm / Trellis do) and return the closest reachable frequency; the board top refuses a
clock more than :data:`MAX_CLOCK_ERROR` away from the one asked for, since the UART divisor and
the timing constraint are computed from the frequency actually produced.
"""

import dataclasses

from amaranth import ClockDomain, Const, Instance, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["MAX_CLOCK_ERROR", "ICE40PLL", "ECP5PLL", "ice40_pll", "ecp5_pll",
           "ice40_sync_domain", "ecp5_sync_domain", "PLLS", "connect_pins"]

#: Largest relative difference between the requested and the produced system clock.
MAX_CLOCK_ERROR = 0.01


@dataclasses.dataclass(frozen=True)
class ICE40PLL:
    """SB_PLL40 settings: f_out = f_in * (divf + 1) / ((divr + 1) * 2**divq), in Hz."""
    f_in: float
    f_out: float
    divr: int
    divf: int
    divq: int
    filter_range: int


@dataclasses.dataclass(frozen=True)
class ECP5PLL:
    """EHXPLLL settings (feedback from CLKOP): f_out = f_in * clkfb_div / clki_div, in Hz,
    VCO = f_out * clkop_div."""
    f_in: float
    f_out: float
    clki_div: int
    clkfb_div: int
    clkop_div: int


def _check_error(kind, f_in, wanted, got):
    if abs(got - wanted) > MAX_CLOCK_ERROR * wanted:
        raise ValueError(f"{kind} PLL cannot make {wanted / 1e6:g} MHz from {f_in / 1e6:g} MHz; "
                         f"nearest is {got / 1e6:.4g} MHz")


def ice40_pll(f_in: float, f_out: float) -> ICE40PLL:
    """Closest SB_PLL40 setting (iCE40 LP/HX/UP data sheet limits: PFD 10...133 MHz,
    VCO 533...1066 MHz, output 16...275 MHz)."""
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                got = f_vco / 2**divq
                if not 16e6 <= got <= 275e6:
                    continue
                if best is None or abs(got - f_out) < abs(best[0] - f_out):
                    best = (got, divr, divf, divq, f_pfd)
    if best is None:
        raise ValueError(f"iCE40 PLL: no setting for {f_in / 1e6:g} MHz input")
    got, divr, divf, divq, f_pfd = best
    _check_error("iCE40", f_in, f_out, got)
    # Loop filter range by PFD frequency (icepll's table).
    filter_range = 1 + sum(f_pfd >= limit for limit in (17e6, 26e6, 44e6, 66e6, 101e6))
    return ICE40PLL(f_in, got, divr, divf, divq, filter_range)


def ecp5_pll(f_in: float, f_out: float) -> ECP5PLL:
    """Closest EHXPLLL setting (ECP5 limits as in ``ecppll``: PFD 3.125...400 MHz,
    VCO 400...800 MHz)."""
    best = None
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb_div in range(1, 81):
            got = f_pfd * clkfb_div
            for clkop_div in range(1, 129):
                f_vco = got * clkop_div
                if 400e6 <= f_vco <= 800e6:
                    # Closest frequency first, then the VCO nearest mid-range (lowest jitter).
                    key = (abs(got - f_out), abs(f_vco - 600e6))
                    if best is None or key < best[0]:
                        best = (key, got, clki_div, clkfb_div, clkop_div)
    if best is None:
        raise ValueError(f"ECP5 PLL: no setting for {f_in / 1e6:g} MHz input")
    _, got, clki_div, clkfb_div, clkop_div = best
    _check_error("ECP5", f_in, f_out, got)
    return ECP5PLL(f_in, got, clki_div, clkfb_div, clkop_div)


def _sync_domain(m, pll_clock, locked):
    m.domains.sync = sync = ClockDomain("sync")
    m.d.comb += sync.clk.eq(pll_clock)
    m.submodules.reset_synchronizer = ResetSynchronizer(~locked, domain="sync", stages=4)
    # No constraint is added here: nextpnr derives the PLL output's from the oscillator pin's
    # constraint and the PLL settings, and reports it in report.json (checked by build.py).


def ice40_sync_domain(m: Module, platform, pll: ICE40PLL, pad_resource: str) -> None:
    """Add an SB_PLL40_PAD fed straight from the oscillator's pad (the iCE40UP5K's PLL input
    pin) and drive the ``sync`` domain from it."""
    pad = platform.request(pad_resource, dir="-")
    pll_clock, locked = Signal(name="pll_clock"), Signal(name="pll_locked")
    m.submodules.pll = Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE",
        p_DIVR=pll.divr, p_DIVF=pll.divf, p_DIVQ=pll.divq,
        p_FILTER_RANGE=pll.filter_range,
        i_PACKAGEPIN=pad.io,
        i_RESETB=Const(1), i_BYPASS=Const(0),
        o_PLLOUTGLOBAL=pll_clock, o_LOCK=locked,
    )
    _sync_domain(m, pll_clock, locked)


def ecp5_sync_domain(m: Module, platform, pll: ECP5PLL, clock_resource: str) -> None:
    """Add an EHXPLLL fed from the oscillator input and drive the ``sync`` domain from CLKOP."""
    m.submodules.oscillator_buffer = oscillator = io.Buffer("i", platform.request(clock_resource, dir="-"))
    clk_in = oscillator.i
    pll_clock, locked = Signal(name="pll_clock"), Signal(name="pll_locked")
    m.submodules.pll = Instance(
        "EHXPLLL",
        a_FREQUENCY_PIN_CLKI=f"{pll.f_in / 1e6:g}",
        a_FREQUENCY_PIN_CLKOP=f"{pll.f_out / 1e6:g}",
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
        a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED",
        p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
        p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
        p_CLKI_DIV=pll.clki_div, p_CLKFB_DIV=pll.clkfb_div,
        p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=pll.clkop_div,
        p_CLKOP_CPHASE=pll.clkop_div - 1, p_CLKOP_FPHASE=0,
        p_FEEDBK_PATH="CLKOP",
        i_RST=Const(0), i_STDBY=Const(0), i_CLKI=clk_in, i_CLKFB=pll_clock,
        i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
        i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
        i_ENCLKOP=Const(0),
        o_CLKOP=pll_clock, o_LOCK=locked,
    )
    _sync_domain(m, pll_clock, locked)


#: PLL family (``Board.pll``) -> (solver ``(f_in, f_out) -> settings``, the function adding the PLL
#: and the ``sync`` domain it drives: ``(m, platform, settings, oscillator resource)``).
PLLS = {
    "ice40": (ice40_pll, ice40_sync_domain),
    "ecp5": (ecp5_pll, ecp5_sync_domain),
}


def connect_pins(m: Module, plan) -> None:
    """Add one ``amaranth.lib.io.Buffer`` per pin of ``plan``, a list of (port, direction,
    value): direction "i" drives the signal ``value`` from the pin, "o" drives the pin from
    ``value`` (a port's inversion, e.g. of an active-low LED, is applied by the buffer)."""
    for index, (port, direction, value) in enumerate(plan):
        m.submodules[f"pin_buffer_{index}"] = buffer = io.Buffer(direction, port)
        if direction == "i":
            m.d.comb += value.eq(buffer.i)
        else:
            m.d.comb += buffer.o.eq(value)
