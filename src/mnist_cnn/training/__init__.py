"""Training: the loop with its callbacks (loop), the resume point (run_state), the one-cycle schedule,
the device and precision choice, oneDNN's CPU kernels (onednn), and the fused batch-norm layer the
model uses."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "TrainResult": "loop", "EpochRecorder": "loop", "set_reproducible": "loop", "compile_model": "loop",
    "make_datasets": "loop",
    "ResumeMismatchError": "run_state", "best_epoch": "run_state",
    "OneCycle": "schedules", "learning_rate": "schedules",
    "make_strategy": "devices", "device_description": "devices", "cpu_description": "devices",
    "cpu_flags": "devices", "choose_precision": "devices",
    "FusedBatchNormalization": "fused_norm",
    "choose_onednn": "onednn", "onednn_state": "onednn", "describe_onednn": "onednn",
    "run_with_onednn": "onednn",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
