"""TensorFlow's oneDNN CPU kernels, on where TensorFlow's default leaves them off.

On AVX2-only CPUs Eigen's kernels train about 1.5 times slower (bench/JOURNAL.md). The user's
`TF_ENABLE_ONEDNN_OPTS` stands; `onednn_state` asks a private function (tests/training/test_onednn.py)."""

from __future__ import annotations

import os
import platform
import sys

from mnist_cnn.training.devices import cpu_flags

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# set beside VARIABLE when this module set it, so that a restarted process (the benchmarks restart
# themselves under an ISA cap) still reports the choice as the package's, not the user's
_SET_BY_PACKAGE = "MNIST_CNN_SET_ONEDNN_OPTS"
# CPU flags (as /proc/cpuinfo names them) on which TensorFlow turns oneDNN's kernels on by itself
TENSORFLOW_DEFAULT_ON_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def choose_onednn() -> None:
    """Turn TensorFlow's oneDNN kernels on for this process if nobody has chosen and it is not too late."""
    if VARIABLE not in os.environ and "tensorflow" not in sys.modules and _linux_x86():
        os.environ[VARIABLE] = "1"
        os.environ[_SET_BY_PACKAGE] = "1"


def _linux_x86() -> bool:
    # the builds whose default depends on the CPU; Windows builds have oneDNN's kernels on already,
    # and on ARM they are other kernels (Arm Compute Library), not measured here
    return platform.system() == "Linux" and platform.machine().lower() in ("x86_64", "amd64")


def onednn_state() -> dict[str, bool | str | None]:
    """Whether TensorFlow runs oneDNN's CPU kernels, and why (None where unknown); imports TensorFlow."""
    from mnist_cnn import backends

    if backends.active() != "tensorflow":
        return {"enabled": None, "reason": f"TensorFlow's setting; Keras runs on {backends.active()} here"}
    import tensorflow  # noqa: F401  (loads the runtime that answers below)

    try:
        from tensorflow.python.util import _pywrap_util_port

        enabled: bool | None = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        enabled = None
    value = os.environ.get(VARIABLE)
    if value is None:
        reason = "TensorFlow's default for this CPU"
        if _linux_x86():
            reason += " (TensorFlow was loaded before mnist_cnn could choose)"
    elif os.environ.get(_SET_BY_PACKAGE) == "1" and value == "1":
        reason = package_reason(cpu_flags())
    else:
        reason = f"{VARIABLE}={value} in the environment"
    return {"enabled": enabled, "reason": reason}


def package_reason(flags: frozenset[str]) -> str:
    """Why the package's choice is in force on a CPU with these flags."""
    own = [flag for flag in TENSORFLOW_DEFAULT_ON_FLAGS if flag in flags]
    if own:
        return f"turned on by mnist_cnn, as TensorFlow itself does on this CPU ({' '.join(own)})"
    return ("turned on by mnist_cnn: TensorFlow leaves them off on this CPU (no AVX512-VNNI, AVX512-BF16, "
            "AVX-VNNI or AMX), where they train about 1.5 times as fast")


def describe_onednn(state: dict[str, bool | str | None]) -> str:
    """`onednn_state`'s answer in a few words: "on", "off" or "unknown", then the reason."""
    word = {True: "on", False: "off"}.get(state["enabled"], "unknown")  # type: ignore[arg-type]
    return f"{word} ({state['reason']})"


def onednn_requested(setting: str) -> str | None:
    """The value of TF_ENABLE_ONEDNN_OPTS that `setting` ("auto", "on" or "off") asks for; None for auto."""
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"oneDNN setting {setting!r}: choose auto, on or off")
    return None if setting == "auto" else ("1" if setting == "on" else "0")


def run_with_onednn(setting: str) -> None:
    """Restart this process with TF_ENABLE_ONEDNN_OPTS as `setting` asks, unless it already is."""
    wanted = onednn_requested(setting)
    if wanted is None:
        if VARIABLE in os.environ or not _linux_x86():
            return  # the user's choice, or TensorFlow's own default where the package leaves it
        os.environ[VARIABLE], os.environ[_SET_BY_PACKAGE] = "1", "1"
        if "tensorflow" not in sys.modules:
            return  # in time: TensorFlow reads it when it loads
    else:
        os.environ.pop(_SET_BY_PACKAGE, None)  # asked for by name: the reason is the environment
        if os.environ.get(VARIABLE, "").lower() in (("1", "true") if wanted == "1" else ("0", "false")):
            return
        os.environ[VARIABLE] = wanted
    os.execv(sys.executable, [sys.executable, *sys.argv])
