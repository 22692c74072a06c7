"""ULX3S with an ECP5-85F (LFE5U-85F-6BG381C): SPU top, clock and default parameters.

Clock: the 25 MHz oscillator feeds an EHXPLLL making the ``sync`` clock, by default 30 MHz
(CLKI_DIV=5, CLKFB_DIV=6, CLKOP_DIV=20, VCO 600 MHz): the default build meets it (Fmax 40.2 MHz,
docs/boards.md), far from the 100 MHz goal. The UART is the FT231X's (pins
M1/L4), default 3 Mbaud (the FT231X's maximum; exactly 10 clock cycles per bit).

Lights (LED0 ... LED4): idle, busy (blinking), error (sticky until a line break), RX, TX.

Default SPU: N=128 cells, P=32 coupling lanes and 32 second-moment lanes (with the noise
multiplier 65 of the 156 MULT18X18D), 18-bit couplings and states, 16-bit outputs: it places and
routes in about ten minutes and meets 30 MHz. P=64 also places (131 multipliers, 207 of 208
block RAMs) but its routing does not finish in an hour (docs/boards.md).
"""

from amaranth import Elaboratable, Module
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from thermospu.rtl.spec.config import SPUConfig

from .board import Board
from .clocking import connect_pins, ecp5_pll, ecp5_sync_domain
from .top import SPUBoardTop

__all__ = ["ULX3STop", "ULX3S"]

OSCILLATOR_HZ = 25e6


class ULX3STop(Elaboratable):
    """The SPU on a ULX3S-85F.

    Parameters
    ----------
    config : SPUConfig
    clock_hz : float
        Requested system clock (Hz); the PLL's nearest (within 1 %) is used: see ``clock_hz``.
    baud : int
        UART baud rate.
    """

    def __init__(self, config: SPUConfig, clock_hz: float = 30e6, baud: int = 3_000_000):
        try:
            self.pll = ecp5_pll(OSCILLATOR_HZ, clock_hz)
            self.clock_hz = self.pll.f_out
            self.system = SPUBoardTop(config, self.clock_hz, baud, board="ulx3s")
        except ValueError:
            self._MustUse__silence = True     # refused, not forgotten: no "never used" warning
            raise
        self.baud = baud
        self.config = config

    @property
    def cycles_per_step(self) -> int:
        return self.system.cycles_per_step

    def elaborate(self, platform):
        m = Module()
        ecp5_sync_domain(m, platform, self.pll, "clk25")
        m.submodules.system = system = self.system
        uart = platform.request("uart", 0, dir="-")
        wiring_plan = [
            (uart.rx, "i", system.uart_rx),
            (uart.tx, "o", system.uart_tx),
            # amaranth-boards' uart_tx_enable: gates our TX driver onto the FT231X's line.
            (platform.request("uart_tx_enable", 0, dir="-"), "o", 1),
        ]
        for index, light in enumerate((system.led_idle, system.led_busy, system.led_error,
                                       system.led_rx, system.led_tx)):
            wiring_plan.append((platform.request("led", index, dir="-"), "o", light))
        connect_pins(m, wiring_plan)
        return m


ULX3S = Board(
    name="ulx3s",
    title="ULX3S-85F",
    platform=ULX3S_85F_Platform,
    top=ULX3STop,
    config=SPUConfig(n=128, lanes=32, a_bits=18, b_bits=18, x_bits=18, out_bits=16,
                     sigma_bits=16, max_samples_log2=24),
    clock_hz=30e6,
    baud=3_000_000,
    toolchain_options=lambda config: {},
    resource_map={
        "LUT4 (placed, incl. carry/RAM)": ("pnr", ["TRELLIS_COMB"]),
        "LUT4": ("netlist", (["LUT4"], "TRELLIS_COMB")),
        "flip-flops": ("pnr", ["TRELLIS_FF"]),
        "multipliers (MULT18X18D)": ("pnr", ["MULT18X18D"]),
        "block RAM (DP16KD, 18 kbit)": ("pnr", ["DP16KD"]),
        "PLL": ("pnr", ["EHXPLLL"]),
    },
    bitstream="top.bit",
    programmer="openFPGALoader",
    programmer_env="OPENFPGALOADER",
    programmer_hint="Install openFPGALoader (`apt-get install openfpgaloader`, or from "
                    "https://github.com/trabucayre/openFPGALoader).",
    program_arguments="-b ulx3s",
)
