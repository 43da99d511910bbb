"""Keeping TensorFlow's C++ log lines on descriptor 2 out of the way: `sys.stderr` cannot reach them."""

from __future__ import annotations

import functools
import os
import re
import sys
import threading


def silence_native_stderr() -> int | None:
    """Point descriptor 2 at /dev/null; return a duplicate of the old one (None where there is none)."""
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (an embedding host): leave it as it is
        return None
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return original


def restore_native_stderr(original: int | None) -> None:
    """Undo `silence_native_stderr`: descriptor 2 is what it was again."""
    if original is not None:
        os.dup2(original, 2)
        os.close(original)


# What TensorFlow's C++ core says on every start or model load that is news to no one (start-up notes, the
# CUDA probe without a GPU, a graph optimiser's version skew; on a GPU, plugins registered twice, the device,
# cuDNN and XLA's service). Each names its source file and message: other lines from those sources still show.
KNOWN_NOISE = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"\] oneDNN custom operations are on",
    r"cudart_stub\.cc:\d+\] Could not find cuda drivers",
    r"cuda_platform\.cc:\d+\] failed call to cuInit",
    r"cuda_executor\.cc:\d+\].*(cuInit|no NVIDIA GPU)",
    r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
    r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition",
    r"py_utils\.cc:\d+\] TF-TRT Warning: Could not find TensorRT",
    r"cuda_(dnn|fft|blas)\.cc:\d+\] Unable to register cu(DNN|FFT|BLAS) factory: Attempting to register "
    r"factory for plugin cu(DNN|FFT|BLAS) when one has already been registered",
    r"computation_placer\.cc:\d+\] computation placer already registered",
    r"cuda_executor\.cc:\d+\] (successful NUMA node read from SysFS had negative value|could not open "
    r"file to read NUMA node)",
    r"gpu_device\.cc:\d+\] Created device /job:localhost/replica:0/task:0/device:GPU:\d+ with \d+ MB memory",
    r"cuda_dnn\.cc:\d+\] Loaded cuDNN version \d+",
    r"service\.cc:\d+\] (XLA service 0x[0-9a-f]+ initialized for platform"
    r"|  StreamExecutor (device \(\d+\)|\[\d+\]): )",
    r"dump_mlir_util\.cc:\d+\] disabling MLIR crash reproducer",
    r"device_compiler\.h:\d+\] Compiled cluster using XLA!",
    r"generator_dataset_op\.cc:\d+\] Memory patch applied: M_TRIM_THRESHOLD",
)


@functools.cache  # once a process: later calls get the first call's answer
def filter_native_stderr(patterns: tuple[str, ...] = KNOWN_NOISE) -> bool:
    """Drop descriptor 2's lines that match `patterns` for the rest of the process; True once in place.

    A daemon thread reads a pipe in place of descriptor 2 and forwards the rest."""
    noise = re.compile("|".join(f"(?:{p})" for p in patterns))
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError):
        return False
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb", buffering=0) as source:
            pending = b""
            while chunk := source.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = [line for line in lines if not noise.search(line.decode("utf-8", "replace"))]
                if kept:
                    os.write(original, b"\n".join(kept) + b"\n")
            if pending and not noise.search(pending.decode("utf-8", "replace")):
                os.write(original, pending)

    threading.Thread(target=forward, name="native-stderr-filter", daemon=True).start()
    return True
