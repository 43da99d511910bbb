"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs, as a library, a notebook and a command.

Subpackages along the layers: io (input files, caps, atomic writes), data (the CSV format, reading, the
dataset), training (the loop, resume, schedules, devices, the fused batch norm), evaluation (metrics,
calibration, plots) and serving (saving and loading, prediction, exports, the demo page); at the top,
config, model, backends (Keras' three), keras_compat, pipeline, the command (cli, cli_parser),
runtime_setup (the notebook's install into a live Colab runtime) and notebook_setup (the rest of its
setup). docs/design.md maps each module.
"""

__version__ = "0.1.0"

# before anything loads TensorFlow: its oneDNN kernels train about 1.5 times as fast on CPUs where
# its default leaves them off (training/onednn.py)
from mnist_cnn.backends import choose_backend as _choose_backend
from mnist_cnn.training.onednn import choose_onednn as _choose_onednn

_choose_onednn()
# before Keras loads: JAX or PyTorch where nobody chose a backend and TensorFlow is not installed
_choose_backend()
