"""The `mnist-cnn` command's arguments: every subcommand and option, each help stating its default."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnist_cnn.config import DEVICES, DIGIT_NAMES, PROFILES, Config
from mnist_cnn.constants import CORRUPTION_SEED


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand; each option's help states its default."""
    parser = argparse.ArgumentParser(
        prog="mnist-cnn", description="Train and use an augmented CNN on MNIST-style CSVs."
    )
    parser.add_argument(
        "--tf-logs", action="store_true",
        help="show TensorFlow's native log lines and library warnings (default: hidden)",
    )
    parser.add_argument(
        "--limit", action="append", default=[], metavar="NAME=VALUE",
        help="change a cap on input files, e.g. csv_text_bytes=2GiB or image_pixels=100M; repeatable "
        "(the caps and their defaults: mnist_cnn.io.limits.Limits)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = Config()

    train = commands.add_parser(
        "train",
        help="train a model; the default run writes models/ and figures/, any other its --run-dir's",
        description="Train a profile on the CSVs, evaluate it on the test CSV, and write the "
        "model (.keras and .h5), history.csv, metrics.json and the figures. A run that is cut off "
        "resumes from its last finished epoch when started again with the same --run-dir.",
    )
    train.add_argument(
        "--profile", choices=list(PROFILES), default=defaults.profile,
        help="training recipe (default: %(default)s)"
    )
    train.add_argument("--epochs", type=int, help="number of epochs (default: the profile's)")
    train.add_argument("--batch-size", type=int, help="images per step (default: the profile's)")
    train.add_argument("--learning-rate", type=float, help="peak learning rate (default: the profile's)")
    train.add_argument("--seed", type=int, help=f"random seed (default: {defaults.seed})")
    train.add_argument(
        "--data-dir", type=Path, help=f"folder of the CSVs (default: {defaults.data_dir})"
    )
    train.add_argument(
        "--train-csv", help=f"training CSV in --data-dir (default: {defaults.train_csv})"
    )
    train.add_argument(
        "--test-csv", help=f"test CSV in --data-dir (default: {defaults.test_csv})"
    )
    train.add_argument(
        "--models-dir", type=Path, help="output folder (default: models for the default run, full with "
        "its settings; <run-dir>/models for any other, which so never replaces the committed model)"
    )
    train.add_argument(
        "--figures-dir", type=Path, help="figure folder (default: figures for the default run; "
        "<run-dir>/figures for any other)"
    )
    train.add_argument(
        "--run-dir", type=Path,
        help="resumable training state (default: runs/<profile>, as in the notebook)",
    )
    train.add_argument(
        "--fresh", action="store_true",
        help="discard an unfinished run in --run-dir instead of resuming it (default: resume; a run "
        "with other settings or data is refused)",
    )
    train.add_argument(
        "--device", choices=DEVICES, help=f"where to train (default: {defaults.device})",
    )
    train.add_argument(
        "--config", type=Path, dest="config_file",
        help="start from the settings in this JSON file, e.g. a metrics.json (default: the --profile's)",
    )
    train.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
        help="any Config setting, e.g. --set dense_units=256 --set conv_filters=16,32; repeatable "
        "(default: none)",
    )

    evaluate = commands.add_parser(
        "evaluate", help="metrics of a saved model on a labelled CSV",
        description="Print accuracy, loss, macro F1, ROC AUC, calibration and the per-class table.",
    )
    evaluate.add_argument("model", type=Path, help="a .keras or .h5 model")
    evaluate.add_argument("csv", type=Path, help="an MNIST-style CSV with a label column")
    evaluate.add_argument("--json", action="store_true", help="print every metric as JSON (default: a table)")
    evaluate.add_argument(
        "--corruptions", action="store_true",
        help="also the accuracy under each of MNIST-C's 15 corruptions of the CSV's images, and their "
        "mean (default: off; about a minute for 10,000 images)",
    )
    evaluate.add_argument(
        "--seed", type=int, help=f"the corruptions' seed, with --corruptions (default: {CORRUPTION_SEED})"
    )
    _add_class_names(evaluate)

    predict = commands.add_parser(
        "predict", help="classify your own images, or a CSV into a Kaggle submission",
        description="Images (PNG, JPEG, BMP, GIF, TIFF, WebP) are converted as MNIST's digits were: "
        "grayscale, light on dark, cropped, fitted into 20x20 and centred by centre of mass in 28x28. "
        "A CSV is read as the data CSVs are; with --submission the predictions are written in "
        'Kaggle\'s "Digit Recognizer" format (ImageId,Label).',
    )
    predict.add_argument(
        "model", type=Path,
        help="a .keras or .h5 model, or a .tflite export (answers at once: no TensorFlow start-up)",
    )
    predict.add_argument("inputs", type=Path, nargs="+", metavar="INPUT", help="images, or one CSV")
    predict.add_argument(
        "--submission", type=Path, help="write a Kaggle submission CSV here (default: print the predictions)"
    )
    predict.add_argument("--top", type=int, default=3, help="classes listed per image (default: %(default)s)")
    predict.add_argument("--json", action="store_true", help="print JSON lines (default: text)")
    predict.add_argument(
        "--explain", type=Path, metavar="DIR",
        help="also write each image's occlusion map (where hiding it lowers the prediction) to "
        "DIR/<image name>.png; images and a .keras or .h5 model only (default: none)",
    )
    _add_class_names(predict)

    export = commands.add_parser(
        "export", help="export a model for serving (SavedModel, TFLite, ONNX)",
        description="Export through Keras' model.export, reload the export with its own runtime "
        "and check that it predicts as the Keras model does before it takes its final name.",
    )
    export.add_argument("model", type=Path, help="a .keras or .h5 model")
    export.add_argument(
        "--format", dest="fmt", choices=["tflite", "savedmodel", "onnx"], default="tflite",
        help="export format (default: %(default)s)",
    )
    export.add_argument(
        "--output", type=Path,
        help="where to write (default: beside the model, e.g. models/mnist_cnn.tflite)",
    )

    demo = commands.add_parser(
        "demo", help="a web page to draw a digit on (or upload one) and see the model's answer",
        description="Serve a draw-a-digit page (needs the demo extra: pip install \"mnist-cnn[demo]\"). "
        "Drawings and uploads are read as 'predict' reads image files; the page also serves an API "
        "endpoint, 'predict', for gradio_client. Stop it with Ctrl-C.",
    )
    demo.add_argument("model", type=Path, help="a .keras or .h5 model, or a .tflite export")
    demo.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on; 0.0.0.0 opens the page to other machines (default: %(default)s)",
    )
    demo.add_argument("--port", type=int, default=7860, help="port to listen on (default: %(default)s)")
    _add_class_names(demo)
    return parser


def _add_class_names(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--class-names", default=",".join(DIGIT_NAMES),
        help="the model's classes in output order, comma-separated (default: %(default)s)",
    )
