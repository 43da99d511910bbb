"""The `mnist-cnn` command: train, evaluate, predict, export and demo, over the library.

Bad input ends the command with one line on stderr and exit status 2, without a traceback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Sequence

from mnist_cnn.cli_parser import build_parser
from mnist_cnn.config import Config

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a program stopped by a closed pipe
CSV_SUFFIXES = (".csv", ".gz", ".zip")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (0, or 2 for bad input)."""
    from mnist_cnn.io.limits import Limits

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.limits = Limits().with_overrides(args.limit)
    except ValueError as err:
        parser.error(str(err))
    if not args.tf_logs:
        _hide_native_logs()
    from mnist_cnn.backends import NoBackendError, TensorFlowRequiredError, check_backend_installed
    from mnist_cnn.io.errors import InputFileError  # a CSV, image or model file that cannot be used
    from mnist_cnn.serving.export import ExportError

    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict, "export": _export,
                "demo": _demo}
    try:
        check_backend_installed()
        handlers[args.command](args)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`mnist-cnn predict ... | head -1`): stop quietly, as `cat` would; the
        # rest of the output goes nowhere, so the interpreter's last flush cannot complain either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (InputFileError, ExportError, BadInputError, NoBackendError, TensorFlowRequiredError,
            OSError) as err:
        print(f"mnist-cnn {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"mnist-cnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


def _hide_native_logs() -> None:
    """Send TensorFlow's C++ stderr lines to /dev/null; Python's stderr moves to a copy of descriptor 2."""
    from mnist_cnn.io.native_logs import silence_native_stderr

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # TensorFlow's and its companions' known user-facing noise only: a DeprecationWarning (Keras
    # announcing a breaking change) still shows
    noisy = r"(tensorflow|absl|google|keras|h5py|gradio)\b"
    for category in (UserWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=noisy)
    # for the rest of the process, not a scope: TensorFlow also writes while the interpreter exits
    original = silence_native_stderr()
    if original is not None:
        sys.stderr = os.fdopen(original, "w", buffering=1, encoding="utf-8", errors="replace")


# the settings `train` takes from flags of their own; the rest come by --set
TRAIN_SETTINGS = ("epochs", "batch_size", "learning_rate", "seed", "data_dir", "train_csv", "test_csv",
                  "models_dir", "figures_dir", "run_dir", "device")


class BadInputError(ValueError):
    """A command-line request that cannot be carried out as given."""


def _train(args: argparse.Namespace) -> None:
    from mnist_cnn import pipeline
    from mnist_cnn.evaluation.metrics import summary_line
    from mnist_cnn.live import TerminalBar

    flags = {name: getattr(args, name) for name in TRAIN_SETTINGS}
    base: dict = {"profile": args.profile}
    if args.config_file is not None:  # its errors name the file; those of the flags and --set do not
        try:
            base = Config.from_json(args.config_file).given()
        except OSError as err:
            raise BadInputError(f"{args.config_file}: cannot be read ({err.strerror or err})") from None
        except ValueError as err:
            raise BadInputError(f"{args.config_file}: {err}") from None
    try:
        config = Config.from_profile(base.pop("profile"), **{**base, **flags}).with_settings(args.settings)
    except ValueError as err:
        raise BadInputError(str(err)) from None
    bar = TerminalBar(sys.stdout)  # updates in place in a terminal; piped, one line per epoch
    run = pipeline.run(config, report=bar.line, fresh=args.fresh, limits=args.limits,
                       progress=bar.update)
    bar.clear()
    print(summary_line(run.metrics))
    print(f"{run.result.epochs_run} epochs, {run.result.train_seconds:.0f} s of training; wrote:")
    for path in run.written:
        print(f"  {path}")


def _evaluate(args: argparse.Namespace) -> None:
    from mnist_cnn.data.csv_files import load_csv
    from mnist_cnn.data.dataset import check_labels
    from mnist_cnn.evaluation import metrics as ev
    from mnist_cnn.serving.run_files import json_safe

    if args.seed is not None and not args.corruptions:
        raise BadInputError("--seed is the corruptions' seed: it needs --corruptions")
    # the CSV first: a bad or oversized file is refused in a second, before TensorFlow starts
    images, labels = load_csv(args.csv, limits=args.limits)
    if labels is None:
        raise BadInputError(f"{args.csv}: no label column, so there is nothing to score against")
    model = _load_model(args)
    class_names = _class_names(args, model)
    check_labels(args.csv, labels, len(class_names))
    evaluation = ev.evaluate(model, images, labels, class_names)
    metrics = evaluation.metrics
    if args.corruptions:
        from mnist_cnn.evaluation.corruptions import CORRUPTION_SEED, corruption_record

        seed = CORRUPTION_SEED if args.seed is None else args.seed
        metrics.update(corruption_record(model, images, labels, seed))
    if args.json:
        print(json.dumps(json_safe(metrics), indent=2))
        return
    print(ev.summary_line(metrics))
    print(evaluation.report_table().round(4).astype({"support": int}).to_string())
    if args.corruptions:
        print(f"accuracy under MNIST-C's corruptions (seed {metrics['corruption_seed']}): "
              f"mean {metrics['corruption_mean']:.2%}")
        for name, accuracy in metrics["corruptions"].items():
            print(f"  {name:<14} {accuracy:.2%}")


def _predict(args: argparse.Namespace) -> None:
    from mnist_cnn.data.images import load_images
    from mnist_cnn.serving.predict import predict_digits, write_submission

    csvs = [p for p in args.inputs if p.name.lower().endswith(CSV_SUFFIXES)]
    if args.explain and (csvs or args.submission or args.model.suffix == ".tflite"):
        raise BadInputError("--explain takes image files and a .keras or .h5 model, not a CSV, "
                            "--submission or a .tflite model")
    if args.explain and len({p.stem for p in args.inputs}) < len(args.inputs):
        raise BadInputError("--explain names each map after its image, and two images share a name")
    if csvs and len(args.inputs) > 1:
        raise BadInputError("give either one CSV or image files, not both")
    if args.submission and not csvs:
        raise BadInputError("--submission needs a CSV input (a Kaggle test.csv)")
    if args.top < 1:
        raise BadInputError("--top must be at least 1")
    # inputs first: a bad or oversized file, or a read-only target, is refused before TensorFlow starts
    if args.submission:
        from mnist_cnn.io.files import check_writable_target

        check_writable_target(args.submission)
    if args.explain:
        args.explain.mkdir(parents=True, exist_ok=True)
    if csvs:
        from mnist_cnn.data.csv_files import load_csv

        images, _ = load_csv(csvs[0], limits=args.limits)
        sources = [f"{csvs[0]} row {i}" for i in range(1, len(images) + 1)]
    else:
        images, sources = load_images(args.inputs, limits=args.limits), [str(p) for p in args.inputs]
    model = _load_model(args, allow_tflite=True)
    class_names = _class_names(args, model)
    if args.submission:
        rows = write_submission(model, csvs[0], args.submission, class_names, images=images)
        print(f"wrote {args.submission} ({rows} predictions)")
        return
    for prediction in predict_digits(model, images, class_names, sources, top=args.top):
        # --json: one object a line, the Prediction's fields (source, label, confidence, top)
        print(json.dumps(dataclasses.asdict(prediction)) if args.json else prediction.describe())
    if args.explain:
        from mnist_cnn.evaluation.occlusion import occlusion_map
        from mnist_cnn.evaluation.robustness_plots import occlusion_figure
        from mnist_cnn.serving.run_files import save_figure

        for image, path in zip(images, args.inputs, strict=True):
            heat, label = occlusion_map(model, image)
            figure = occlusion_figure([image], [heat], [f"{path.name}: {class_names[label]}"])
            written = save_figure(figure, args.explain, path.stem)
            if not args.json:
                print(f"wrote {written}")


def _export(args: argparse.Namespace) -> None:
    from mnist_cnn.serving.export import default_output, export_model

    model = _load_model(args)
    output = args.output or default_output(args.model, args.fmt)
    difference = export_model(model, output, args.fmt)
    print(f"wrote {output} ({args.fmt}); it predicts as the Keras model does "
          f"(largest difference {difference:.1e})")


def _load_model(args: argparse.Namespace, allow_tflite: bool = False):
    """`args.model` by Keras after `check_model_archive`; with `allow_tflite`, a .tflite by LiteRT."""
    from mnist_cnn.io.model_files import check_model_archive
    from mnist_cnn.serving import litert

    if allow_tflite and args.model.suffix == litert.SUFFIX:  # no TensorFlow to start
        return litert.load_litert_model(args.model, args.limits)
    check_model_archive(args.model, args.limits)
    from mnist_cnn.serving.model_io import load_model  # starts TensorFlow: after the check

    return load_model(args.model, args.limits)


def _demo(args: argparse.Namespace) -> None:
    from mnist_cnn.serving import demo

    try:  # before the model: the optional extra may be missing, and TensorFlow takes seconds to start
        demo.require_gradio()
    except ImportError as err:
        raise BadInputError(str(err)) from None
    model = _load_model(args, allow_tflite=True)
    import logging

    # the server's log: one timestamped line per refused image (Python's fallback would drop the time)
    logging.basicConfig(format="%(asctime)s mnist-cnn demo: %(message)s", level=logging.WARNING)
    demo.launch(model, _class_names(args, model), host=args.host, port=args.port, limits=args.limits)


def _class_names(args: argparse.Namespace, model) -> tuple[str, ...]:
    names = tuple(name.strip() for name in args.class_names.split(","))
    outputs = model.output_shape[-1]
    if len(names) != outputs:
        raise BadInputError(f"--class-names lists {len(names)} classes but {args.model} has {outputs} "
                            "outputs")
    return names


if __name__ == "__main__":
    sys.exit(main())
