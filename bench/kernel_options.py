"""The options a timing script takes to choose its CPU kernels: an instruction-set cap for oneDNN
(`--isa`), and whether TensorFlow's oneDNN kernels run at all (`--onednn`).

TensorFlow reads both once, when it loads, so applying them restarts the process where they change
something. Shared by the timing and probe scripts (train_bench.py, layer_probe.py, first_conv_probe.py),
which import it as their sibling.
"""

from __future__ import annotations

import argparse

from mnist_cnn.training.devices import run_under_isa_cap
from mnist_cnn.training.onednn import run_with_onednn


def add_kernel_options(parser: argparse.ArgumentParser) -> None:
    """Add --isa and --onednn to `parser`."""
    parser.add_argument(
        "--isa",
        default=None,
        metavar="ONEDNN_ISA",
        help="hold oneDNN to this instruction set, e.g. AVX2 to compute as an AVX2-only CPU does (sets "
        "ONEDNN_MAX_CPU_ISA and restarts; default: none, the CPU's own)",
    )
    parser.add_argument(
        "--onednn",
        default="auto",
        choices=("auto", "on", "off"),
        help="TensorFlow's oneDNN CPU kernels: auto (the package's choice: on, on Linux x86-64), on, or "
        "off (Eigen's kernels: TensorFlow's own default on CPUs without AVX512-VNNI, AVX512-BF16 or "
        "AMX); sets TF_ENABLE_ONEDNN_OPTS and restarts (default: %(default)s)",
    )


def apply_kernel_options(args: argparse.Namespace) -> None:
    """Put the parsed --isa and --onednn in force, restarting the process if either needs it."""
    run_under_isa_cap(args.isa)
    run_with_onednn(args.onednn)
