"""Run inside a runtime: load model files as a user would there, predict, and compare with the reference.

    python load_check.py REFERENCE.npz MODEL_FILE...

REFERENCE.npz holds `images` (N, 28, 28, 1) and `probabilities`, what the project's own Keras predicts.
Each .keras/.h5 file is opened with plain `keras.saving.load_model(path, compile=False)`; `--tf-keras`
opens the .h5 files with tf_keras (Keras 2) instead; a folder is a SavedModel, read through its serving
signature; a .tflite file runs in TensorFlow's interpreter. Prints one JSON line per file: the versions,
and the largest difference from the reference, or the error.
"""

from __future__ import annotations

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402


def predict_keras(path: str, images: np.ndarray, tf_keras: bool) -> np.ndarray:
    if tf_keras:
        import tf_keras as keras_2

        return keras_2.models.load_model(path, compile=False).predict(images, verbose=0)
    import keras

    return keras.saving.load_model(path, compile=False).predict(images, verbose=0)


def predict_savedmodel(path: str, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    serving = tf.saved_model.load(path).signatures["serving_default"]
    (name,) = serving.structured_input_signature[1]
    (output,) = serving(**{name: tf.constant(images)}).values()
    return output.numpy()


def predict_tflite(path: str, images: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=path)
    (given,), (wanted,) = interpreter.get_input_details(), interpreter.get_output_details()
    interpreter.resize_tensor_input(given["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(given["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(wanted["index"])


def main(argv: list[str]) -> int:
    tf_keras = "--tf-keras" in argv
    reference_path, *files = [arg for arg in argv if arg != "--tf-keras"]
    reference = np.load(reference_path)
    images = reference["images"].astype(np.float32)
    import keras
    import tensorflow as tf

    for path in files:
        result = {"file": os.path.basename(path.rstrip("/")), "keras": keras.__version__,
                  "tensorflow": tf.__version__, "python": sys.version.split()[0]}
        try:
            if os.path.isdir(path):
                probabilities = predict_savedmodel(path, images)
            elif path.endswith(".tflite"):
                probabilities = predict_tflite(path, images)
            else:
                probabilities = predict_keras(path, images, tf_keras)
            result["max_difference"] = float(np.abs(probabilities - reference["probabilities"]).max())
        except Exception as err:  # the report is the point: every failure, by its type and message
            result["error"] = f"{type(err).__name__}: {' '.join(str(err).split())[:400]}"
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
