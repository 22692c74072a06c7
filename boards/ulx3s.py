"""ULX3S with an ECP5-85F (LFE5U-85F-6BG381C): the board record (pins, clock, default SPU).

Clock: the 25 MHz oscillator feeds an EHXPLLL making the ``sync`` clock, by default 60 MHz
(CLKI_DIV=5, CLKFB_DIV=12, CLKOP_DIV=10, VCO 600 MHz): the default build meets it (Fmax
78.1 MHz, docs/boards.md; 30 MHz until 2026-12-04), short of the 100 MHz goal. The UART is the
FT231X's (pins M1/L4), default 3 Mbaud (the FT231X's maximum; exactly 20 clock cycles per bit).

Lights (LED0 ... LED4): idle, busy (blinking), error (sticky until a line break), RX, TX.

Default SPU: N=128 cells, P=64 coupling lanes and 32 second-moment lanes (with the noise
multiplier 97 of the 156 MULT18X18D; 137 of the 208 block RAMs), 18-bit couplings and states,
16-bit outputs, 256 cycles per Euler step: with nextpnr's static placer it places and routes in
688 s on two shared cores (docs/boards.md) and meets 60 MHz. ``--lanes 32`` builds the former
default (P=32, M=32: 512 cycles per step)."""

from thermospu.rtl.spec.config import SPUConfig

from .board import Board

__all__ = ["ULX3S"]


def no_toolchain_options(config: SPUConfig) -> dict:
    """No build overrides: ``synth_ecp5`` maps every multiplier to a MULT18X18D by itself. The
    block RAMs keep Yosys's read-first emulation (a valid way to meet
    :class:`~thermospu.rtl.gateware.block_ram.BlockRAM`'s undefined collisions): without it
    (``UNDEFINED_COLLISIONS``, as on the iCEBreaker) the default build has 4077 flip-flops and
    2900 LUT4s fewer, but its routing stalls (seeds 1 and 2: 40.4k and 41.5k arcs still
    unrouted after 36 and 21 minutes, docs/boards.md). Our reading, not yet confirmed: the
    emulation's multiplexer beside each block RAM buffers its read data for their many loads
    (router2's congestion map puts about half of the overuse on the second-moment lanes'
    snapshot and bank read data)."""
    return {}


ULX3S = Board(
    name="ulx3s",
    title="ULX3S-85F",
    platform_class="amaranth_boards.ulx3s:ULX3S_85F_Platform",
    pll="ecp5",
    oscillator_hz=25e6,
    oscillator="clk25",
    # amaranth-boards' uart_tx_enable gates our TX driver onto the FT231X's line.
    outputs=(("uart_tx_enable", 0, 1), ("led", 0, ("led_idle",)), ("led", 1, ("led_busy",)),
             ("led", 2, ("led_error",)), ("led", 3, ("led_rx",)), ("led", 4, ("led_tx",))),
    extra_resources=(),
    config=SPUConfig(n=128, lanes=64, a_bits=18, b_bits=18, x_bits=18, out_bits=16,
                     sigma_bits=16, max_samples_log2=24),
    clock_hz=60e6,
    baud=3_000_000,
    # 32 second-moment lanes at P = 64: 137 block RAMs instead of 207, and they route.
    moment_lanes=32,
    toolchain_options=no_toolchain_options,
    # nextpnr's electrostatic placer spreads the design over the die: with HeAP (its default)
    # P = 64 does not route, and P = 32 took twice as long (docs/boards.md).
    placer="static",
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
