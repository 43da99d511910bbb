"""Training: what a run trains as Keras code (recipe), the machinery around its `fit` (session), one
network or an ensemble's (loop), what it produced (result), the callbacks (callbacks), the input
(input_pipeline), progress within epochs (progress), the resume point (run_state), the one-cycle
schedule, the device, precision and XLA choices (devices, xla), the spread over devices on each
backend (distribute), oneDNN's CPU kernels (onednn), the batch-norm layer the network trains with
(fused_norm), and ensembles (ensemble)."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "TrainResult": "result", "set_reproducible": "session", "compile_model": "recipe", "train": "loop",
    "TrainingSession": "session", "Recipe": "recipe", "PACKAGE_RECIPE": "recipe",
    "compile_network": "recipe", "recipe_callbacks": "recipe", "fit_network": "recipe",
    "EpochRecorder": "callbacks", "AtomicModelCheckpoint": "callbacks", "ResumePointSaver": "callbacks",
    "make_datasets": "input_pipeline",
    "Progress": "progress", "ProgressCallback": "progress", "format_bar": "progress",
    "choose_xla": "xla", "Placement": "devices", "list_gpus": "devices", "resolve_placement": "distribute",
    "build_training_model": "fused_norm", "training_norm": "fused_norm",
    "ResumeMismatchError": "run_state", "best_epoch": "run_state",
    "OneCycle": "schedules", "learning_rate": "schedules",
    "make_strategy": "distribute", "KerasDistribution": "distribute",
    "device_description": "devices", "cpu_description": "devices",
    "cpu_flags": "devices", "choose_precision": "devices",
    "FusedBatchNormalization": "fused_norm",
    "choose_onednn": "onednn", "onednn_state": "onednn", "describe_onednn": "onednn",
    "run_with_onednn": "onednn",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
