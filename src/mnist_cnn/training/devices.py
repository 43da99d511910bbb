"""What a run trains on: the GPUs the backend sees, the resolved placement, the CPU, the precision."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mnist_cnn import backends


def tpu_present() -> bool:
    """Whether a TPU is attached, from the environment (TensorFlow's resolver can hang off Colab)."""
    return any(os.environ.get(v) for v in ("COLAB_TPU_ADDR", "TPU_NAME")) or Path("/dev/accel0").exists()


@dataclass(frozen=True)
class Gpu:
    """One GPU: its name and CUDA compute capability (None where unknown)."""

    name: str
    capability: tuple[int, int] | None = None

    @property
    def capability_text(self) -> str | None:
        """The compute capability as CUDA writes it ("7.5"), None where unknown."""
        return f"{self.capability[0]}.{self.capability[1]}" if self.capability else None


def list_gpus() -> list[Gpu]:
    """The GPUs the active Keras backend sees, with their names and compute capabilities."""
    listers = {"tensorflow": _tensorflow_gpus, "jax": _jax_gpus, "torch": _torch_gpus}
    return listers.get(backends.active(), list)()


def _tensorflow_gpus() -> list[Gpu]:
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        found.append(Gpu(str(details.get("device_name", gpu.name)),
                         (int(capability[0]), int(capability[1])) if capability else None))
    return found


def _jax_gpus() -> list[Gpu]:
    import jax

    try:
        devices = jax.devices("gpu")
    except RuntimeError:  # no GPU backend in this jaxlib, or no GPU
        return []
    return [Gpu(str(device.device_kind), _capability(getattr(device, "compute_capability", None)))
            for device in devices]


def _torch_gpus() -> list[Gpu]:
    import torch

    if not torch.cuda.is_available():
        return []
    return [Gpu(torch.cuda.get_device_name(index), tuple(torch.cuda.get_device_capability(index)))
            for index in range(torch.cuda.device_count())]


def _capability(text: str | None) -> tuple[int, int] | None:
    """"8.6" as (8, 6); None where absent or unreadable."""
    try:
        major, minor = str(text).split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


@dataclass(frozen=True)
class Placement:
    """What a run trains on: device kind, name, GPU capability, and replicas sharing each batch."""

    kind: str
    name: str
    replicas: int = 1
    compute_capability: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def record(self) -> dict[str, Any]:
        """The fields as recorded in metrics.json and a resume point, with the description."""
        return {**asdict(self), "description": self.describe()}

    def describe(self) -> str:
        """In words, e.g. "GPU Tesla T4 (compute capability 7.5)" or "CPU (2 cores), 2 replicas"."""
        text = f"{self.kind.upper()} {self.name}" if self.kind != "cpu" else self.name
        if self.compute_capability:
            text += f" (compute capability {self.compute_capability})"
        return text + (f", {self.replicas} replicas" if self.replicas > 1 else "")


def device_description() -> str:
    """What the run trained on, in words."""
    gpus = list_gpus()
    return f"{len(gpus)} GPU(s): {gpus[0].name}" if gpus else cpu_name()


def cpu_name() -> str:
    return f"CPU ({os.cpu_count()} cores)"


# CPU flags (as /proc/cpuinfo names them) of hardware bfloat16 arithmetic that oneDNN uses
_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_description() -> str:
    """The CPU's model name and its bfloat16 and AMX flags, for benchmarks and records."""
    flags = cpu_flags()
    model = _cpuinfo_field("model name") or "unknown CPU"
    shown = [flag for flag in ("amx_tile", "amx_bf16", "avx512_bf16", "avx512f") if flag in flags]
    base = shown or [flag for flag in ("avx2", "fma") if flag in flags]
    text = f"{model}, {os.cpu_count()} cores, flags: {' '.join(base) or 'no AVX2, no AVX-512'}"
    cap = isa_cap()
    return text + (f"; oneDNN capped at {cap}" if cap else "")


# oneDNN's ISA names (ONEDNN_MAX_CPU_ISA) from which on it computes bfloat16 natively
_BF16_ISAS = frozenset({"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                        "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT"})


def isa_cap() -> str | None:
    """The ISA oneDNN is held to (ONEDNN_MAX_CPU_ISA), None if not held; read once, at load."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value and value.strip() else None


def run_under_isa_cap(isa: str | None) -> None:
    """Restart this process with oneDNN held to `isa` unless it already is (read once, at load)."""
    if isa is None or isa_cap() == isa.upper():
        return
    import sys

    os.environ["ONEDNN_MAX_CPU_ISA"] = isa.upper()
    os.execv(sys.executable, [sys.executable, *sys.argv])


def cpu_flags() -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where /proc/cpuinfo is not there, e.g. macOS)."""
    return frozenset((_cpuinfo_field("flags") or "").split())


def _cpuinfo_field(name: str) -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def choose_precision(
    setting: str = "auto", device: str = "auto", gpus: list[Gpu] | None = None
) -> tuple[str, str]:
    """The Keras dtype policy to train with, and why.

    "auto": bfloat16 where native (TPU, GPU 8.0+, AMX or AVX512-BF16 CPUs under oneDNN), float16 on 7.x GPUs,
    else float32. Other settings are used as given."""
    if setting != "auto":
        return setting, "set in the configuration"
    if device == "tpu" or (device == "auto" and tpu_present()):
        return "mixed_bfloat16", "a TPU computes bfloat16 natively"
    if device in ("auto", "gpu", "mirrored"):
        gpus = list_gpus() if gpus is None else gpus
        if gpus:
            capability = gpus[0].capability
            shown = f"{gpus[0].name}, compute capability {gpus[0].capability_text or 'unknown'}"
            if capability and capability >= (8, 0):
                return "mixed_bfloat16", f"the GPU computes bfloat16 natively ({shown})"
            if capability and capability >= (7, 0):
                return "mixed_float16", f"the GPU has float16 tensor cores but no bfloat16 ({shown})"
            return "float32", f"the GPU has no tensor cores ({shown})"
    native = [flag for flag in _BF16_CPU_FLAGS if flag in cpu_flags()]
    if native and backends.active() == "jax":
        return "float32", ("JAX's CPU kernels (XLA's) train no faster in bfloat16, even where the CPU "
                           f"computes it natively ({', '.join(native)}; bench/README.md, Keras' backends)")
    cap = isa_cap()
    if native and cap is not None and cap not in _BF16_ISAS:
        return "float32", f"oneDNN is capped at {cap} (ONEDNN_MAX_CPU_ISA), which has no bfloat16 arithmetic"
    if native:
        return "mixed_bfloat16", f"the CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", "no native bfloat16 or float16 arithmetic found"
