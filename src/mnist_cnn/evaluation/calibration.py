"""Temperature scaling fitted on validation (Guo et al. 2017), folded into the saved model.

Dividing logits by one temperature changes no prediction; as a `Rescaling` layer before the softmax it reaches
every consumer (Keras, SavedModel, TFLite, ONNX, the command)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from scipy import special

from mnist_cnn.evaluation.metrics import predict_fixed
from mnist_cnn.model import LOGITS, PROBABILITIES

TEMPERATURE_LAYER = "temperature"
# the search range of the temperature: far outside it a model is broken, not miscalibrated
_LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))


@dataclass(frozen=True)
class Calibration:
    """The fitted temperature and what it did on the split it was fitted on."""

    temperature: float
    fitted_on: str
    samples: int
    log_loss_before: float
    log_loss_after: float


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, computed stably."""
    return special.softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)


def temperature_log_loss(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the true classes under softmax(logits / temperature)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    return float((special.logsumexp(scaled, axis=1) - scaled[np.arange(len(labels)), labels]).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature minimising the log loss of `labels` under softmax(logits / T).

    The loss is convex in 1/T, so a bounded search on log T finds the one minimum."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("calibration needs at least one labelled image (the validation split is empty)")
    found = minimize_scalar(lambda log_t: temperature_log_loss(logits, labels, math.exp(log_t)),
                            bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(math.exp(found.x))


def with_temperature(classifier: keras.Model, temperature: float) -> keras.Model:
    """The classifier with logits divided by `temperature` before the softmax, in built-in layers.

    Layers are shared, not copied; an existing temperature is replaced, not compounded."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be positive, got {temperature}")
    logits = classifier.get_layer(LOGITS).output
    scaled = keras.layers.Rescaling(1.0 / temperature, name=TEMPERATURE_LAYER)(logits)
    probabilities = keras.layers.Activation("softmax", dtype="float32", name=PROBABILITIES)(scaled)
    return keras.Model(classifier.inputs, probabilities, name=classifier.name)


def calibrate(classifier: keras.Model, inputs: np.ndarray, labels: np.ndarray,
              fitted_on: str = "validation") -> tuple[keras.Model, Calibration]:
    """Fit a temperature on (`inputs`, `labels`) and return the calibrated model and the record."""
    # the classifier up to its logits, before any temperature and the softmax
    up_to_logits = keras.Model(classifier.inputs, classifier.get_layer(LOGITS).output,
                               name=f"logits_of_{classifier.name}")
    logits = predict_fixed(up_to_logits, inputs).astype(np.float64)
    temperature = fit_temperature(logits, labels)
    record = Calibration(temperature=temperature, fitted_on=fitted_on, samples=len(labels),
                         log_loss_before=temperature_log_loss(logits, labels, 1.0),
                         log_loss_after=temperature_log_loss(logits, labels, temperature))
    return with_temperature(classifier, temperature), record
