"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs, as a library, a notebook and a command.

Modules: config (settings and profiles), data (CSV loading and preparation), model (the CNN),
train (fitting, resume, saving), evaluate (metrics), plots (figures), predict (your own images),
export (SavedModel, TFLite, ONNX), native_logs (TensorFlow's C++ log lines), cli (the `mnist-cnn`
command).
"""

__version__ = "0.1.0"
