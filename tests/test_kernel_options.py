"""bench/kernel_options.py: the --isa and --onednn options the timing scripts share, and the restart that
puts them in force before TensorFlow loads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mnist_cnn.training import onednn
from tests.conftest import ROOT

SCRIPT = f"""
import argparse, os, sys
sys.path.insert(0, {str(ROOT / "bench")!r})
from kernel_options import add_kernel_options, apply_kernel_options
parser = argparse.ArgumentParser()
add_kernel_options(parser)
apply_kernel_options(parser.parse_args())
print(os.environ.get("ONEDNN_MAX_CPU_ISA"), os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
"""


def run(tmp_path, *args: str) -> subprocess.CompletedProcess:
    script = tmp_path / "timing.py"  # a file: the restart runs its argv again
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items()
           if k not in ("ONEDNN_MAX_CPU_ISA", onednn.VARIABLE, onednn._SET_BY_PACKAGE)}
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_both_options_are_in_force_after_the_restart(tmp_path):
    done = run(tmp_path, "--isa", "avx2", "--onednn", "off")
    assert done.returncode == 0, done.stderr
    isa, kernels = done.stdout.split()
    assert (isa, kernels) == ("AVX2", "0")


@pytest.mark.skipif(not onednn._linux_x86(),
                    reason="the package turns oneDNN's kernels on only on Linux x86-64")
def test_by_default_nothing_is_capped_and_the_package_chooses_the_kernels(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    isa, kernels = done.stdout.split()
    assert (isa, kernels) == ("None", "1")


def test_an_unknown_kernel_choice_is_refused_by_name(tmp_path):
    done = run(tmp_path, "--onednn", "maybe")
    assert done.returncode == 2 and "--onednn: invalid choice: 'maybe'" in done.stderr
