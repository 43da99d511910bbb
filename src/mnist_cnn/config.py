"""One configuration object for every setting and path, and its checks; the named profiles are in `profiles`.

Every path and random choice (through `seed`) comes from here; nothing reads environment variables.
A refused setting is a `ConfigError`: one line naming it, shown as that line in a notebook too."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cnn.profiles import PROFILES

DIGIT_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))
DEVICES = ("auto", "cpu", "gpu", "mirrored", "tpu")
# the values each setting with named choices takes
CHOICES = {"profile": tuple(PROFILES), "architecture": ("fast", "original"),
           "schedule": ("onecycle", "cosine", "plateau"), "device": DEVICES, "padding": ("valid", "same"),
           "precision": ("auto", "float32", "mixed_bfloat16", "mixed_float16"), "xla": ("auto", "on", "off")}
# each checked number's range [least, bound) (None: no bound)
RANGES: dict[str, tuple[float, float | None]] = {
    "epochs": (1, None), "batch_size": (1, None), "steps_per_execution": (1, None), "members": (1, None),
    "val_size": (0, None), "seed": (0, None), "train_limit": (1, None), "test_limit": (1, None),
    "early_stopping_patience": (0, None), "plateau_patience": (0, None), "dense_units": (0, None),
    "rotation": (0, None), "zoom": (0, None), "translation": (0, None), "distortion": (0, None),
    "label_smoothing": (0, 1), "dropout": (0, 1), "ema_momentum": (0, 1)}
# what a refusal adds to its range
NOTES = {"distortion": " (a largest shift in pixels)", "ema_momentum": " (0 turns the weight average off)"}
PATHS = ("data_dir", "models_dir", "figures_dir", "run_dir")
# settings added after runs were recorded, with the value every earlier run trained with: a recorded
# run (a metrics.json, a resume point) that lacks one of them ran with that value
SETTINGS_ADDED_LATER: dict[str, Any] = {"standardize": False, "distortion": 0.0}
# how and where a run trains, not what: the default run differs from `full` in none of the others
HOW_AND_WHERE = (*PATHS[1:], "model_name", "device", "precision", "xla", "tensorboard")


class ConfigError(ValueError):
    """A setting refused, in one line naming it (a notebook shows that line, not a traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"ConfigError: {self}"]


@dataclass
class Config:
    """Settings for one run: data, model, training, devices and outputs; the defaults are `full`.

    The measurements behind the defaults are in bench/README.md."""

    profile: str = "full"
    seed: int = 42  # the split, initialisation, augmentation and shuffling follow it

    # data
    data_dir: Path = Path("data")
    train_csv: str = "mnist_train.csv.gz"
    test_csv: str = "mnist_test.csv.gz"
    class_names: tuple[str, ...] = DIGIT_NAMES
    val_size: int = 6000
    train_limit: int | None = None  # use only the first N (stratified) training images
    test_limit: int | None = None

    # model
    architecture: str = "fast"  # "original" (the original project's) or "fast" (this project's)
    conv_filters: tuple[int, ...] = (32, 64)  # one block per entry, each ending in 2x2 max-pooling
    convs_per_block: int | tuple[int, ...] = 2  # one number for every block, or one per block
    padding: str = "valid"  # "valid" convolutions skip the empty border: less work on a CPU
    batch_norm: bool = True
    standardize: bool = False  # each image to zero mean and unit variance inside the network
    dense_units: int = 128
    dropout: float = 0.25
    rotation: float = 0.03  # fraction of a full turn (0.03 is about 11 degrees)
    zoom: float = 0.1
    translation: float = 0.1  # fraction of the image side
    distortion: float = 0.0  # largest shift, in pixels, of a smooth random grid distortion (0: none)
    augment: bool = True

    # training
    epochs: int = 16
    batch_size: int = 256
    learning_rate: float = 7e-3  # the one-cycle peak, chosen on validation alone
    schedule: str = "onecycle"  # "plateau" is ReduceLROnPlateau
    label_smoothing: float = 0.1
    # momentum of a weight average (0: off) that validates, checkpoints and is saved; the raw weights train on
    ema_momentum: float = 0.999
    early_stopping_patience: int = 20  # a one-cycle schedule only pays when it runs to its end
    steps_per_execution: int = 16  # training steps per call into TensorFlow: less Python overhead a step
    plateau_patience: int = 2
    members: int = 1  # networks (seeds seed, seed + 1, ...) whose logits one saved model averages
    deterministic: bool = True
    device: str = "auto"
    # "auto": bfloat16 where the hardware computes it natively (AMX or AVX512-BF16 CPUs, TPUs),
    # float16 with loss scaling on GPUs with tensor cores, float32 elsewhere; the saved model is float32
    precision: str = "auto"
    # compile the training step with XLA; "auto" decides per run and says why (training/xla.py): off
    # wherever the augmentation is, since its warp has no XLA kernel
    xla: str = "auto"
    tensorboard: bool = False  # TensorBoard logs in run_dir/tensorboard while training (TensorFlow only)

    # outputs. None: models/ and figures/ for the default run (see HOW_AND_WHERE), <run_dir>/models and
    # <run_dir>/figures for any other, which so never replaces them
    models_dir: Path | None = None
    figures_dir: Path | None = None
    # resumable state (weights after each epoch, the best checkpoint); None: runs/<profile>, so that
    # runs of different profiles never share one
    run_dir: Path | None = None
    model_name: str = "mnist_cnn"
    _defaulted: tuple[str, ...] = dataclasses.field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._defaulted = tuple(name for name in PATHS if getattr(self, name) is None)
        self.class_names = class_names_of(self.class_names)
        _check_types(self)
        self.data_dir = Path(self.data_dir)
        self.run_dir = Path(self.run_dir if self.run_dir is not None else Path("runs") / self.profile)
        self.conv_filters = tuple(self.conv_filters)
        if isinstance(self.convs_per_block, int):
            self.convs_per_block = (self.convs_per_block,) * len(self.conv_filters)
        self.convs_per_block = tuple(self.convs_per_block)
        _check_values(self)
        default = bool({"models_dir", "figures_dir"} & set(self._defaulted)) and self.is_default_run()
        for name in ("models_dir", "figures_dir"):
            folder, value = name.removesuffix("_dir"), getattr(self, name)
            value = value if value is not None else folder if default else self.run_dir / folder
            setattr(self, name, Path(value))

    def is_default_run(self) -> bool:
        """Whether this is the default run: `full` with its settings, how and where aside."""
        reference = _reference()
        return all(getattr(self, f.name) == getattr(reference, f.name)
                   for f in dataclasses.fields(self) if f.init and f.name not in HOW_AND_WHERE)

    @classmethod
    def from_profile(cls, profile: str = "full", **overrides: Any) -> Config:
        """The named profile's settings, with `overrides` (None values are ignored) on top."""
        _check_names(overrides)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**PROFILES.get(profile, {}), "profile": profile, **overrides})

    def with_settings(self, assignments: list[str]) -> Config:
        """A copy with `key=value` assignments applied; `ValueError` for an unknown or ill-typed setting."""
        changes = {}
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            key = key.strip().replace("-", "_")
            if not sep:
                raise ConfigError(f"--set {assignment!r}: expected key=value")
            _check_names({key: None})
            changes[key] = _parse_value(key, text.strip())
        # folders this config chose itself are chosen again for the new settings
        return dataclasses.replace(self, **{**{name: None for name in self._defaulted}, **changes})

    @classmethod
    def from_json(cls, path: str | Path) -> Config:
        """Settings from a JSON object or a metrics.json's `config`; new settings take the run's values."""
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            # a whole metrics.json: the run it records trained with what its version had; where it
            # wrote is not a setting, and follows the settings again
            data = {k: v for k, v in {**SETTINGS_ADDED_LATER, **data["config"]}.items() if k not in PATHS[1:]}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a JSON object of settings")
        optional = {f.name for f in dataclasses.fields(Config) if f.default is None}
        for key, value in data.items():  # from_profile reads None as "not given", as a flag left out
            if value is None and key not in optional:
                raise ConfigError(f"{path}: {key}=null: expected a value (leave it out for the profile's)")
        return cls.from_profile(data.pop("profile", "full"), **data)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train_path(self) -> Path:
        return self.data_dir / self.train_csv

    @property
    def test_path(self) -> Path:
        return self.data_dir / self.test_csv

    @property
    def keras_path(self) -> Path:
        return self.models_dir / f"{self.model_name}.keras"

    @property
    def h5_path(self) -> Path:
        return self.models_dir / f"{self.model_name}.h5"

    @property
    def history_path(self) -> Path:
        return self.models_dir / "history.csv"

    @property
    def metrics_path(self) -> Path:
        return self.models_dir / "metrics.json"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings, as recorded beside the results."""
        out = dataclasses.asdict(self)
        out.pop("_defaulted")
        for key, value in out.items():
            if isinstance(value, Path):
                out[key] = value.as_posix()
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out

    def given(self) -> dict[str, Any]:
        """`to_dict()` less the folders this config chose itself (they follow the settings)."""
        return {k: v for k, v in self.to_dict().items() if k not in self._defaulted}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def class_names_of(names: Any) -> tuple[str, ...]:
    """Distinct class names as a tuple; a JSON list given as text (papermill's -p) is read as one."""
    how = ("class_names: expected a list of at least two distinct names, e.g. [\"cat\", \"dog\"]"
           " (papermill: -y 'class_names: [...]')")
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except ValueError:
            raise ConfigError(f"{how}; got the text {names[:40]!r}") from None
    if (not isinstance(names, list | tuple) or len(names) < 2
            or any(isinstance(n, bool) or not isinstance(n, str | int) or not str(n).strip() for n in names)):
        raise ConfigError(f"{how}; got {names!r}")
    names = tuple(str(n) for n in names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"class_names: {', '.join(map(repr, repeated))} given twice; each class needs "
                          "its own name")
    return names


def _check_types(config: Config) -> None:
    """Refuse, naming it, the first setting not of its type; 3.0 counts as 3, and 3 as 3.0."""
    for field in dataclasses.fields(config):
        name, value, default = field.name, getattr(config, field.name), field.default
        if not field.init or name == "class_names" or (value is None and default is None):
            continue
        value = _as_declared(value, default, name)
        setattr(config, name, value)
        ints = isinstance(value, list | tuple) and all(_whole(v) for v in value)
        if name in PATHS:
            ok, what = isinstance(value, str | os.PathLike), "a folder path"
        elif name in ("conv_filters", "convs_per_block"):
            ok, what = ints or (name == "convs_per_block" and _whole(value)), "a list of whole numbers"
        elif isinstance(default, bool):
            ok, what = isinstance(value, bool), "True or False"
        elif isinstance(default, float):
            ok, what = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        elif isinstance(default, int) or name in ("train_limit", "test_limit"):
            ok, what = _whole(value), "a whole number"
        else:
            ok, what = isinstance(value, str), "text"
        if not ok:
            raise ConfigError(f"{name}={value!r}: expected {what}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_declared(value: Any, default: Any, name: str) -> Any:
    """A whole float (3.0, 1e3) as an int where a setting counts, an int as a float where it measures.

    Equal settings then compare, record and fingerprint equal whichever way they were written."""
    if isinstance(default, float) and _whole(value):
        return float(value)
    counts = name in ("train_limit", "test_limit") or (_whole(default) and name not in PATHS)
    if counts and isinstance(value, float) and value.is_integer():
        return int(value)
    if name in ("conv_filters", "convs_per_block") and isinstance(value, list | tuple):
        return [int(v) if isinstance(v, float) and v.is_integer() else v for v in value]
    return value


def _check_values(config: Config) -> None:
    """Refuse, naming it, the first setting outside its choices or range, or wrong for its network."""
    for name, allowed in CHOICES.items():
        if getattr(config, name) not in allowed:
            raise ConfigError(f"unknown {name} {getattr(config, name)!r}; choose one of {', '.join(allowed)}")
    for name, (low, high) in RANGES.items():
        value = getattr(config, name)
        if value is not None and not (low <= value and (high is None or value < high)):  # refuses NaN too
            bound = f"at least {low}" if high is None else f"in [{low}, {high})"
            raise ConfigError(f"{name}={value!r}: must be {bound}{NOTES.get(name, '')}")
    if min(config.conv_filters, default=0) < 1 or not config.learning_rate > 0:
        raise ConfigError("conv_filters needs at least one block of 1 filter or more, learning_rate > 0")
    if len(config.convs_per_block) != len(config.conv_filters) or min(config.convs_per_block) < 1:
        raise ConfigError(f"convs_per_block {config.convs_per_block} needs one count of at least 1 for each "
                          f"of the {len(config.conv_filters)} blocks in conv_filters")
    if config.architecture == "original" and (config.standardize or config.distortion):
        raise ConfigError("standardize and distortion belong to this project's network (architecture "
                          "fast); the original recipe is kept as written")


def _check_names(settings: dict[str, Any]) -> None:
    unknown = set(settings) - {f.name for f in dataclasses.fields(Config) if f.init}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")


def _parse_value(key: str, text: str) -> Any:
    """A `--set` value: text for text and folders, else a number, true/yes/no, none or a comma list."""
    default = {f.name: f.default for f in dataclasses.fields(Config)}[key]
    if text.lower() in ("none", "null"):
        return None
    if isinstance(default, str) or key in PATHS:
        return text
    if isinstance(default, bool) and text.lower() in ("true", "yes", "false", "no"):
        return text.lower() in ("true", "yes")
    value = _scalar(text)
    if isinstance(value, str) and "," in value:
        parts = [part.strip() for part in value.split(",")]
        value = parts if key == "class_names" else [_scalar(part) for part in parts]
    if isinstance(default, tuple) and not isinstance(value, list):
        value = [value]  # one block, one class name: a list of one
    return value


def _scalar(text: str) -> Any:
    """JSON (numbers, true, false, lists), else a number JSON does not write (.5, 1_0), else the text."""
    for parse in (json.loads, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


@functools.cache
def _reference() -> Config:
    return Config(models_dir=Path("models"), figures_dir=Path("figures"))


def check_switches(**switches: Any) -> None:
    """Refuse, naming it, a notebook switch that is not True, False or None."""
    for name, value in switches.items():
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected True, False or None")
