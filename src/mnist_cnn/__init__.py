"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs; docs/design.md maps its modules."""

__version__ = "0.1.0"

from mnist_cnn.backends import choose_backend as _choose_backend
from mnist_cnn.training.onednn import choose_onednn as _choose_onednn

# before anything loads TensorFlow: oneDNN's faster kernels where its default leaves them off (onednn.py)
_choose_onednn()
# before Keras loads: JAX or PyTorch where nobody chose a backend and TensorFlow is not installed
_choose_backend()
