"""iCEBreaker (Lattice iCE40UP5K-SG48): the board record (pins, clock, default SPU, toolchain).

Clock: the 12 MHz oscillator on pin 35 feeds the SB_PLL40_PAD, which makes the ``sync`` clock
(default 36 MHz, which the default build meets: docs/boards.md). The UART is the FT2232H's second
channel (pins 6/9), default 3 Mbaud (12 clock cycles per bit at 36 MHz).

Lights: the green LED is on while idle and blinks while a job runs; the red LED is the sticky error
light (UART framing error or overrun, protocol error; cleared by a line break). Two green LEDs
of the break-off PMOD (amaranth-boards' ``led_g`` 1 and 2) show RX and TX activity.

Default SPU: N=32 cells on two coupling lanes and two second-moment lanes (P=2), the noise
amplitude on a fifth SB_MAC16; 8-bit couplings, biases, noise amplitude and outputs, 12-bit
states, up to 2**16 samples per job: 86 % of the UP5K's 5280 logic cells, and 36 MHz is met with
4 of the 5 placement seeds tried (Fmax 35.3-38.5 MHz; docs/boards.md, "iCEBreaker"). ``--lanes 4``
(all eight DSPs) fits in 99 % of the logic cells and meets 30 MHz (Fmax 33.5 MHz at seed 1):
1.17e5 steps/s.
"""

from thermospu.rtl.spec.config import SPUConfig

from .board import Board

__all__ = ["ICEBREAKER", "dsp_selection_script"]

#: SB_MAC16 DSP blocks of the iCE40UP5K.
DSP_BLOCKS = 8


def dsp_selection_script(config: SPUConfig) -> str:
    """Yosys commands run before synthesis: the SB_MAC16 DSPs (``synth_ice40 -dsp``) go to the
    SPU's lanes -- P coupling lanes (core.datapath.mac) and P second-moment lanes
    (core.datapath.accumulators) -- and, where a DSP is left over (P <= 3), to the noise amplitude
    sigma_q * g (core.datapath.integrator), which is otherwise the longest path of the core. Every
    other multiplier (the protocol engine's index arithmetic) is mapped to logic first; otherwise
    Yosys would give them DSPs as well and nextpnr would run out of DSP sites."""
    keep = ["*.core.datapath.mac", "*.core.datapath.accumulators"]
    if 2 * config.lanes + 1 <= DSP_BLOCKS:
        keep.append("*.core.datapath.integrator")
    return "techmap -map +/techmap.v t:$mul " + " ".join(f"{scope} %d" for scope in keep)


def toolchain_options(config: SPUConfig) -> dict:
    """Amaranth build overrides for an iCE40 build of ``config``: the DSP selection, and block
    RAMs without read-first emulation
    (:data:`~thermospu.rtl.gateware.block_ram.UNDEFINED_COLLISIONS`)."""
    # Imported here: the board record itself needs no Amaranth.
    from thermospu.rtl.gateware.block_ram import UNDEFINED_COLLISIONS
    return {"synth_opts": "-dsp -device u",
            "script_after_read": f"{dsp_selection_script(config)}\n{UNDEFINED_COLLISIONS}"}


ICEBREAKER = Board(
    name="icebreaker",
    title="iCEBreaker",
    platform_class="amaranth_boards.icebreaker:ICEBreakerPlatform",
    pll="ice40",
    oscillator_hz=12e6,
    oscillator="clk12",
    # The LED resources are active low; the pin buffers invert.
    outputs=(("led_g", 0, ("led_idle", "led_busy")), ("led_r", 0, ("led_error",)),
             ("led_g", 1, ("led_rx",)), ("led_g", 2, ("led_tx",))),
    extra_resources=("break_off_pmod",),
    config=SPUConfig(n=32, lanes=2, a_bits=8, b_bits=8, x_bits=12, out_bits=8, sigma_bits=8,
                     max_samples_log2=16),
    clock_hz=36e6,
    baud=3_000_000,
    moment_lanes=None,
    toolchain_options=toolchain_options,
    placer="heap",
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
