"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs, as a library, a notebook and a command.

Layers, top down: io, data, training, evaluation, serving, then config, model, pipeline and the command.
docs/design.md maps each module."""

__version__ = "0.1.0"

# before anything loads TensorFlow: its oneDNN kernels train about 1.5 times as fast on CPUs where
# its default leaves them off (training/onednn.py)
from mnist_cnn.backends import choose_backend as _choose_backend
from mnist_cnn.training.onednn import choose_onednn as _choose_onednn

_choose_onednn()
# before Keras loads: JAX or PyTorch where nobody chose a backend and TensorFlow is not installed
_choose_backend()
