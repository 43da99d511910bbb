"""The `mnist-cnn` command's arguments: every subcommand and option, each help stating its default."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mnist_cnn.config import DEVICES, DIGIT_NAMES, PROFILES, Config
from mnist_cnn.constants import CORRUPTION_SEED

Argument = tuple[str, dict[str, Any]]  # a name or flag, and its add_argument keywords
DEFAULTS = Config()
PROFILE_DEFAULT = "(default: the profile's)"
KERAS_MODEL: Argument = ("model", dict(type=Path, help="a .keras or .h5 model"))
CLASS_NAMES: Argument = ("--class-names", dict(
    default=",".join(DIGIT_NAMES),
    help="the model's classes in output order, comma-separated (default: %(default)s)",
))

OPTIONS: list[Argument] = [  # the command's own, before the subcommand
    ("--tf-logs", dict(action="store_true",
                       help="show TensorFlow's native log lines and library warnings (default: hidden)")),
    ("--limit", dict(action="append", default=[], metavar="NAME=VALUE",
                     help="change a cap on input files, e.g. csv_text_bytes=2GiB or image_pixels=100M; "
                     "repeatable (the caps and their defaults: mnist_cnn.io.limits.Limits)")),
]
TRAIN: list[Argument] = [
    ("--profile", dict(choices=list(PROFILES), default=DEFAULTS.profile,
                       help="training recipe (default: %(default)s)")),
    ("--epochs", dict(type=int, help=f"number of epochs {PROFILE_DEFAULT}")),
    ("--batch-size", dict(type=int, help=f"images per step {PROFILE_DEFAULT}")),
    ("--learning-rate", dict(type=float, help=f"peak learning rate {PROFILE_DEFAULT}")),
    ("--seed", dict(type=int, help=f"random seed (default: {DEFAULTS.seed})")),
    ("--data-dir", dict(type=Path, help=f"folder of the CSVs (default: {DEFAULTS.data_dir})")),
    ("--train-csv", dict(help=f"training CSV in --data-dir (default: {DEFAULTS.train_csv})")),
    ("--test-csv", dict(help=f"test CSV in --data-dir (default: {DEFAULTS.test_csv})")),
    ("--models-dir", dict(type=Path, help="output folder (default: models for the default run, full with "
                          "its settings; <run-dir>/models for any other, which so never replaces the "
                          "committed model)")),
    ("--figures-dir", dict(type=Path, help="figure folder (default: figures for the default run; "
                           "<run-dir>/figures for any other)")),
    ("--run-dir", dict(type=Path, help="resumable training state (default: runs/<profile>, as in the "
                       "notebook)")),
    ("--fresh", dict(action="store_true", help="discard an unfinished run in --run-dir instead of resuming "
                     "it (default: resume; a run with other settings or data is refused)")),
    ("--device", dict(choices=DEVICES, help=f"where to train (default: {DEFAULTS.device})")),
    ("--config", dict(type=Path, dest="config_file", help="start from the settings in this JSON file, e.g. a "
                      "metrics.json (default: the --profile's)")),
    ("--set", dict(action="append", default=[], metavar="KEY=VALUE", dest="settings",
                   help="any Config setting, e.g. --set dense_units=256 --set conv_filters=16,32; repeatable "
                   "(default: none)")),
]
EVALUATE: list[Argument] = [
    KERAS_MODEL,
    ("csv", dict(type=Path, help="an MNIST-style CSV with a label column")),
    ("--json", dict(action="store_true", help="print every metric as JSON (default: a table)")),
    ("--corruptions", dict(action="store_true", help="also the accuracy under each of MNIST-C's 15 "
                           "corruptions of the CSV's images, and their mean (default: off; about a minute "
                           "for 10,000 images)")),
    ("--seed", dict(type=int, help="the corruptions' seed, with --corruptions "
                    f"(default: {CORRUPTION_SEED})")),
    CLASS_NAMES,
]
PREDICT: list[Argument] = [
    ("model", dict(type=Path, help="a .keras or .h5 model, or a .tflite export (answers at once: no "
                   "TensorFlow start-up)")),
    ("inputs", dict(type=Path, nargs="+", metavar="INPUT", help="images, or one CSV")),
    ("--submission", dict(type=Path, help="write a Kaggle submission CSV here (default: print the "
                          "predictions)")),
    ("--top", dict(type=int, default=3, help="classes listed per image (default: %(default)s)")),
    ("--json", dict(action="store_true", help="print JSON lines (default: text)")),
    ("--explain", dict(type=Path, metavar="DIR", help="also write each image's occlusion map (where hiding "
                       "it lowers the prediction) to DIR/<image name>.png; images and a .keras or .h5 model "
                       "only (default: none)")),
    CLASS_NAMES,
]
EXPORT: list[Argument] = [
    KERAS_MODEL,
    ("--format", dict(dest="fmt", choices=["tflite", "savedmodel", "onnx"], default="tflite",
                      help="export format (default: %(default)s)")),
    ("--output", dict(type=Path, help="where to write (default: beside the model, e.g. "
                      "models/mnist_cnn.tflite)")),
]
DEMO: list[Argument] = [
    ("model", dict(type=Path, help="a .keras or .h5 model, or a .tflite export")),
    ("--host", dict(default="127.0.0.1", help="address to listen on; 0.0.0.0 opens the page to other "
                    "machines (default: %(default)s)")),
    ("--port", dict(type=int, default=7860, help="port to listen on (default: %(default)s)")),
    CLASS_NAMES,
]
COMMANDS: dict[str, tuple[list[Argument], str, str]] = {  # name: (arguments, help, description)
    "train": (TRAIN, "train a model; the default run writes models/ and figures/, any other its --run-dir's",
              "Train a profile on the CSVs, evaluate it on the test CSV, and write the model (.keras and "
              ".h5), history.csv, metrics.json and the figures. A run that is cut off resumes from its "
              "last finished epoch when started again with the same --run-dir."),
    "evaluate": (EVALUATE, "metrics of a saved model on a labelled CSV",
                 "Print accuracy, loss, macro F1, ROC AUC, calibration and the per-class table."),
    "predict": (PREDICT, "classify your own images, or a CSV into a Kaggle submission",
                "Images (PNG, JPEG, BMP, GIF, TIFF, WebP) are converted as MNIST's digits were: "
                "grayscale, light on dark, cropped, fitted into 20x20 and centred by centre of mass in "
                "28x28. A CSV is read as the data CSVs are; with --submission the predictions are written "
                'in Kaggle\'s "Digit Recognizer" format (ImageId,Label).'),
    "export": (EXPORT, "export a model for serving (SavedModel, TFLite, ONNX)",
               "Export through Keras' model.export, reload the export with its own runtime and check that "
               "it predicts as the Keras model does before it takes its final name."),
    "demo": (DEMO, "a web page to draw a digit on (or upload one) and see the model's answer",
             'Serve a draw-a-digit page (needs the demo extra: pip install "mnist-cnn[demo]"). Drawings '
             "and uploads are read as 'predict' reads image files; the page also serves an API endpoint, "
             "'predict', for gradio_client. Stop it with Ctrl-C."),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand; each option's help states its default."""
    parser = argparse.ArgumentParser(
        prog="mnist-cnn", description="Train and use an augmented CNN on MNIST-style CSVs."
    )
    for name, keywords in OPTIONS:
        parser.add_argument(name, **keywords)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (arguments, summary, description) in COMMANDS.items():
        subparser = commands.add_parser(command, help=summary, description=description)
        for name, keywords in arguments:
            subparser.add_argument(name, **keywords)
    return parser
