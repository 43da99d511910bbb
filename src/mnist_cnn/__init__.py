"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs; docs/design.md maps its modules."""

__version__ = "0.1.0"

# before anything loads TensorFlow: its oneDNN kernels train about 1.5 times as fast on CPUs where
# its default leaves them off (training/onednn.py)
from mnist_cnn.backends import choose_backend as _choose_backend
from mnist_cnn.training.onednn import choose_onednn as _choose_onednn

_choose_onednn()
# before Keras loads: JAX or PyTorch where nobody chose a backend and TensorFlow is not installed
_choose_backend()
