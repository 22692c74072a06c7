"""iCEBreaker (Lattice iCE40UP5K-SG48): SPU top, clock and default parameters.

Clock: the 12 MHz oscillator on pin 35 feeds the SB_PLL40_PAD, which makes the ``sync`` clock
(default 36 MHz: DIVR=0, DIVF=47, DIVQ=4). The UART is the FT2232H's second channel (pins 6/9),
default 3 Mbaud (divisor 12 at 36 MHz).

Lights: the green LED is on while idle and blinks while a job runs; the red LED is the sticky error
light (UART framing error or overrun, protocol error; cleared by a line break). The five LEDs of
the break-off PMOD, when attached, show RX and TX activity (LED2, LED3).

Default SPU: N=32 cells, P=8 lanes (the UP5K's eight SB_MAC16 16x16 multipliers, one per lane),
16-bit couplings and states (a product fits one SB_MAC16), 12-bit outputs.
"""

from amaranth import Elaboratable, Module
from amaranth_boards.icebreaker import ICEBreakerPlatform

from thermospu.rtl.config import SPUConfig

from .board import Board
from .clocking import ice40_pll, ice40_sync_domain
from .top import SPUBoardTop

__all__ = ["ICEBreakerTop", "ICEBREAKER"]

OSCILLATOR_HZ = 12e6


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
        self.pll = ice40_pll(OSCILLATOR_HZ, clock_hz)
        self.clock_hz = self.pll.f_out
        self.system = SPUBoardTop(config, self.clock_hz, baud, board="icebreaker")
        self.baud = baud
        self.config = config

    @property
    def cycles_per_step(self) -> int:
        return self.system.cycles_per_step

    def elaborate(self, platform):
        m = Module()
        ice40_sync_domain(m, platform, self.pll, "clk12")
        m.submodules.system = system = self.system
        uart = platform.request("uart", 0)
        led_g = platform.request("led_g", 0)
        led_r = platform.request("led_r", 0)
        m.d.comb += [
            system.uart_rx.eq(uart.rx.i),
            uart.tx.o.eq(system.uart_tx),
            led_g.o.eq(system.led_idle | system.led_busy),
            led_r.o.eq(system.led_error),
        ]
        platform.add_resources(platform.break_off_pmod)
        m.d.comb += [platform.request("led_g", 1).o.eq(system.led_rx),
                     platform.request("led_g", 2).o.eq(system.led_tx)]
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
    # SB_MAC16 for the multipliers (-dsp). The core has 2P + 1 of them: P coupling lanes, P
    # second-moment lanes and the noise amplitude sigma_q * g; with P = 4 the eight DSPs take
    # the lanes and the noise multiplier (13 x 10 bits) is built from logic instead, by mapping
    # that one $mul to gates before synthesis (otherwise nextpnr runs out of DSP sites).
    toolchain_options={"synth_opts": "-dsp",
                       "script_after_read": "techmap -map +/techmap.v *.integrator/t:$mul"},
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
