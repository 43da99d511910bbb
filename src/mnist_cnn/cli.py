"""The `mnist-cnn` command: train, evaluate, predict and export, over the library.

    mnist-cnn train --profile quick
    mnist-cnn evaluate models/mnist_cnn.keras data/mnist_test.csv.gz --json
    mnist-cnn predict models/mnist_cnn.keras my_digit.png another.jpg
    mnist-cnn predict models/mnist_cnn.keras test.csv --submission submission.csv
    mnist-cnn export models/mnist_cnn.keras --format tflite

Bad input (a missing file, an unreadable image, a CSV that fails validation, a file that is not a
model) ends the command with one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mnist_cnn.config import DEVICES, DIGIT_NAMES, PROFILES, Config

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a program stopped by a closed pipe
CSV_SUFFIXES = (".csv", ".gz", ".zip")


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
        "(the caps and their defaults: mnist_cnn.limits.Limits)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    defaults = Config()

    train = commands.add_parser(
        "train",
        help="train a model; writes models/ and figures/ as the notebook does",
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
        "--models-dir", type=Path, help=f"output folder (default: {defaults.models_dir})"
    )
    train.add_argument(
        "--figures-dir", type=Path, help=f"figure folder (default: {defaults.figures_dir})"
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 for bad input)."""
    from mnist_cnn.limits import Limits

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.limits = Limits.with_overrides(args.limit)
    except ValueError as err:
        parser.error(str(err))
    if not args.tf_logs:
        _hide_native_logs()
    from mnist_cnn.errors import InputFileError  # a CSV, image or model file that cannot be used
    from mnist_cnn.export import ExportError

    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export,
                "demo": _demo}
    try:
        handlers[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`mnist-cnn predict ... | head -1`): stop quietly, as `cat` would; the
        # rest of the output goes nowhere, so the interpreter's last flush cannot complain either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (InputFileError, ExportError, BadInputError, OSError) as err:
        print(f"mnist-cnn {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"mnist-cnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _hide_native_logs() -> None:
    """Send what TensorFlow's C++ core writes to stderr (start-up notes, CUDA probes) to /dev/null.

    TensorFlow 2.21 logs through absl before its log level is read, so TF_CPP_MIN_LOG_LEVEL does
    not stop these lines, and they would bury the command's output and its one-line errors. File
    descriptor 2 goes to /dev/null; Python's own stderr (our errors, tracebacks of real bugs) moves
    to a copy of the original descriptor.
    """
    import warnings

    from mnist_cnn.native_logs import silence_native_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore")
    # for the rest of the process, not a scope: TensorFlow also writes while the interpreter exits
    original = silence_native_stderr()
    if original is not None:
        sys.stderr = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")


class BadInputError(ValueError):
    """A command-line request that cannot be carried out as given."""


def _train(args: argparse.Namespace) -> None:
    from mnist_cnn import pipeline, plots
    from mnist_cnn.evaluate import summary_line

    flags = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
             "seed": args.seed, "data_dir": args.data_dir, "train_csv": args.train_csv,
             "test_csv": args.test_csv, "models_dir": args.models_dir, "figures_dir": args.figures_dir,
             "run_dir": args.run_dir, "device": args.device}
    try:
        if args.config_file is not None:
            base = Config.from_json(args.config_file).to_dict()
            config = Config.from_profile(base.pop("profile"), **{**base, **flags})
        else:
            config = Config.from_profile(args.profile, **flags)
        config = config.with_settings(args.settings)
    except OSError as err:
        raise BadInputError(f"{args.config_file}: cannot be read ({err.strerror or err})") from None
    except ValueError as err:
        raise BadInputError(f"{args.config_file}: {err}" if args.config_file and "--set" not in str(err)
                            else str(err)) from None
    run = pipeline.load(config, limits=args.limits)
    print(f"profile {config.profile}, seed {config.seed}, {config.epochs} epochs; "
          f"data {run.dataset.summary()}")
    pipeline.fit(run, report=lambda line: print(line, flush=True), fresh=args.fresh)
    calibration = pipeline.calibrate_model(run)
    print(f"calibrated on the validation split: temperature {calibration.temperature:.3f}")
    pipeline.evaluate_model(run)
    pipeline.save(run)
    for name, figure in pipeline.report_figures(run).items():
        run.written.append(plots.save_figure(figure, config.figures_dir, name))
    print(summary_line(run.metrics))
    print(f"{run.result.epochs_run} epochs, {run.result.train_seconds:.0f} s of training; wrote:")
    for path in run.written:
        print(f"  {path}")


def _evaluate(args: argparse.Namespace) -> None:
    from mnist_cnn import evaluate as ev
    from mnist_cnn.csv_files import load_csv
    from mnist_cnn.dataset import check_labels

    # the CSV first: a bad or oversized file is refused in a second, before TensorFlow starts
    images, labels = load_csv(args.csv, limits=args.limits)
    if labels is None:
        raise BadInputError(f"{args.csv}: no label column, so there is nothing to score against")
    model = _load_model(args)
    class_names = _class_names(args, model)
    check_labels(args.csv, labels, len(class_names))
    evaluation = ev.evaluate(model, images, labels, class_names)
    if args.json:
        print(json.dumps(ev.json_safe(evaluation.metrics), indent=2))
        return
    print(ev.summary_line(evaluation.metrics))
    print(evaluation.report_table().round(4).astype({"support": int}).to_string())


def _predict(args: argparse.Namespace) -> None:
    from mnist_cnn.predict import load_images, predict_digits, write_submission

    csvs = [p for p in args.inputs if p.name.lower().endswith(CSV_SUFFIXES)]
    if csvs and len(args.inputs) > 1:
        raise BadInputError("give either one CSV or image files, not both")
    if args.submission and not csvs:
        raise BadInputError("--submission needs a CSV input (a Kaggle test.csv)")
    if args.top < 1:
        raise BadInputError("--top must be at least 1")
    # inputs first: a bad or oversized file, or a read-only target, is refused in a second, before
    # any model is loaded (TensorFlow takes seconds to start)
    if args.submission:
        from mnist_cnn.files import check_writable_target

        check_writable_target(args.submission)
    if csvs:
        from mnist_cnn.csv_files import load_csv

        images, _ = load_csv(csvs[0], limits=args.limits)
        sources = [f"{csvs[0]} row {i}" for i in range(1, len(images) + 1)]
    else:
        images, sources = load_images(args.inputs, limits=args.limits), [str(p) for p in args.inputs]
    if args.model.suffix == ".tflite":  # LiteRT alone: no TensorFlow to start, answers at once
        from mnist_cnn.litert import load_litert_model

        model = load_litert_model(args.model, args.limits)
    else:
        model = _load_model(args)
    class_names = _class_names(args, model)
    if args.submission:
        rows = write_submission(model, csvs[0], args.submission, class_names, images=images)
        print(f"wrote {args.submission} ({rows} predictions)")
        return
    for prediction in predict_digits(model, images, class_names, sources, top=args.top):
        if args.json:
            print(json.dumps({"source": prediction.source, "label": prediction.label,
                              "confidence": prediction.confidence, "top": prediction.top}))
        else:
            print(prediction.describe())


def _export(args: argparse.Namespace) -> None:
    from mnist_cnn.export import default_output, export_model

    model = _load_model(args)
    output = args.output or default_output(args.model, args.fmt)
    difference = export_model(model, output, args.fmt)
    print(f"wrote {output} ({args.fmt}); it predicts as the Keras model does "
          f"(largest difference {difference:.1e})")


def _load_model(args: argparse.Namespace):
    """`args.model` loaded by Keras once `check_model_archive` passes it: the caps and a sound .keras
    zip are checked before TensorFlow starts (and before Keras would inflate a member in memory)."""
    from mnist_cnn.model_files import check_model_archive

    check_model_archive(args.model, args.limits)
    from mnist_cnn.model_io import load_model

    return load_model(args.model, args.limits)


def _demo(args: argparse.Namespace) -> None:
    from mnist_cnn import demo

    try:  # before the model: the optional extra may be missing, and TensorFlow takes seconds to start
        demo.require_gradio()
    except ImportError as err:
        raise BadInputError(str(err)) from None
    if args.model.suffix == ".tflite":
        from mnist_cnn.litert import load_litert_model

        model = load_litert_model(args.model, args.limits)
    else:
        model = _load_model(args)
    demo.launch(model, _class_names(args, model), host=args.host, port=args.port, limits=args.limits)


def _class_names(args: argparse.Namespace, model) -> tuple[str, ...]:
    names = tuple(name.strip() for name in args.class_names.split(","))
    outputs = model.output_shape[-1]
    if len(names) != outputs:
        raise BadInputError(
            f"--class-names lists {len(names)} classes but {args.model} has {outputs} outputs"
        )
    return names


if __name__ == "__main__":
    sys.exit(main())
