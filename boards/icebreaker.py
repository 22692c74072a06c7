"""iCEBreaker (Lattice iCE40UP5K-SG48): SPU top, clock and default parameters.

Clock: the 12 MHz oscillator on pin 35 feeds the SB_PLL40_PAD, which makes the ``sync`` clock
(default 36 MHz: DIVR=0, DIVF=47, DIVQ=4). The UART is the FT2232H's second channel (pins 6/9),
default 3 Mbaud (12 clock cycles per bit at 36 MHz).

Lights: the green LED is on while idle and blinks while a job runs; the red LED is the sticky error
light (UART framing error or overrun, protocol error; cleared by a line break). Two green LEDs
of the break-off PMOD (amaranth-boards' ``led_g`` 1 and 2) show RX and TX activity.

Default SPU: the issue's goal, N=32 cells with all eight SB_MAC16 DSPs in use: P=4 coupling lanes
and P=4 second-moment lanes of 16 x 16 bits (one DSP each), 16-bit couplings and states, 12-bit
outputs. **The current gateware does not fit the UP5K** at this or any smaller N (docs/boards.md,
"iCEBreaker"): ``thermospu build --board icebreaker`` then stops with what overflows.
"""

from amaranth import Elaboratable, Module
from amaranth_boards.icebreaker import ICEBreakerPlatform

from thermospu.rtl.config import SPUConfig

from .board import Board
from .clocking import connect_pins, ice40_pll, ice40_sync_domain
from .top import SPUBoardTop

__all__ = ["ICEBreakerTop", "ICEBREAKER"]

OSCILLATOR_HZ = 12e6

#: Yosys commands run before synthesis: the SB_MAC16 DSPs (``synth_ice40 -dsp``) go to the SPU's
#: lanes only -- P coupling lanes (core.mac) and P second-moment lanes (core.accumulators), all
#: eight at P = 4. Every other multiplier (the noise amplitude sigma_q * g, 13 x 10 bits, and the
#: protocol engine's index arithmetic) is mapped to logic first; otherwise Yosys would give them
#: DSPs as well and nextpnr would run out of DSP sites.
DSP_SELECTION_SCRIPT = "techmap -map +/techmap.v t:$mul *.core.mac %d *.core.accumulators %d"


class ICEBreakerTop(Elaboratable):
    """The SPU on an iCEBreaker.

    Parameters
    ----------
    config : SPUConfig
    clock_hz : float
        Requested system clock (Hz); the PLL's nearest (within 1 %) is used: see ``clock_hz``.
    baud : int
        UART baud rate.
    """

    def __init__(self, config: SPUConfig, clock_hz: float = 36e6, baud: int = 3_000_000):
        try:
            self.pll = ice40_pll(OSCILLATOR_HZ, clock_hz)
            self.clock_hz = self.pll.f_out
            self.system = SPUBoardTop(config, self.clock_hz, baud, board="icebreaker")
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
        ice40_sync_domain(m, platform, self.pll, "clk12")
        m.submodules.system = system = self.system
        uart = platform.request("uart", 0, dir="-")
        platform.add_resources(platform.break_off_pmod)
        # (pin, direction, system signal); the LED resources are active low, the buffers invert.
        wiring_plan = [
            (uart.rx, "i", system.uart_rx),
            (uart.tx, "o", system.uart_tx),
            (platform.request("led_g", 0, dir="-"), "o", system.led_idle | system.led_busy),
            (platform.request("led_r", 0, dir="-"), "o", system.led_error),
            (platform.request("led_g", 1, dir="-"), "o", system.led_rx),
            (platform.request("led_g", 2, dir="-"), "o", system.led_tx),
        ]
        connect_pins(m, wiring_plan)
        return m


ICEBREAKER = Board(
    name="icebreaker",
    title="iCEBreaker",
    platform=ICEBreakerPlatform,
    top=ICEBreakerTop,
    config=SPUConfig(n=32, lanes=4, a_bits=16, b_bits=16, x_bits=16, out_bits=12, sigma_bits=12,
                     max_samples_log2=20),
    clock_hz=36e6,
    baud=3_000_000,
    toolchain_options={"synth_opts": "-dsp", "script_after_read": DSP_SELECTION_SCRIPT},
    resource_map={
        "logic cells (LUT4+FF)": ("pnr", ["ICESTORM_LC"]),
        "LUT4": ("netlist", (["SB_LUT4"], "ICESTORM_LC")),
        "flip-flops": ("netlist", (["SB_DFF"], "ICESTORM_LC")),
        "DSP (SB_MAC16)": ("pnr", ["ICESTORM_DSP"]),
        "block RAM (4 kbit)": ("pnr", ["ICESTORM_RAM"]),
        "SPRAM (256 kbit)": ("pnr", ["ICESTORM_SPRAM"]),
        "PLL": ("pnr", ["ICESTORM_PLL"]),
    },
    bitstream="top.bin",
    programmer="iceprog",
    programmer_env="ICEPROG",
    programmer_hint="iceprog comes with Project IceStorm (`apt-get install fpga-icestorm`); "
                    "openFPGALoader also works: ICEPROG='openFPGALoader -b ice40_generic'.",
    program_arguments="",
)
