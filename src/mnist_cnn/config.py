"""One configuration object for every setting and path; the named training profiles are in `profiles`.

Every path and random choice (through `seed`) comes from here; nothing reads environment variables."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_cnn.config_checks import PATHS, ConfigError, check_ranges, check_types, class_names_of
from mnist_cnn.profiles import PROFILES

DIGIT_NAMES: tuple[str, ...] = tuple(str(d) for d in range(10))
ARCHITECTURES = ("fast", "original")
SCHEDULES = ("onecycle", "cosine", "plateau")
DEVICES = ("auto", "cpu", "gpu", "mirrored", "tpu")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
PADDINGS = ("valid", "same")
XLA_CHOICES = ("auto", "on", "off")
# settings added after runs were recorded, with the value every earlier run trained with: a recorded
# run (a metrics.json, a resume point) that lacks one of them ran with that value
SETTINGS_ADDED_LATER: dict[str, Any] = {"standardize": False, "distortion": 0.0}
# how and where a run trains, not what: the default run differs from `full` in none of the others
HOW_AND_WHERE = (*PATHS[1:], "model_name", "device", "precision", "xla", "tensorboard")


@dataclass
class Config:
    """Settings for one run: data, model, training, devices and outputs; the defaults are `full`."""

    profile: str = "full"
    seed: int = 42  # the random seed: the split, initialisation, augmentation and shuffling follow it

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
    # each image to zero mean and unit variance inside the network: fewer validation errors with seeds
    # 1-5 on one split, level with `full` on test (bench/JOURNAL.md, "Per-image standardisation")
    standardize: bool = False
    dense_units: int = 128
    dropout: float = 0.25
    rotation: float = 0.03  # fraction of a full turn (0.03 is about 11 degrees)
    zoom: float = 0.1
    translation: float = 0.1  # fraction of the image side
    # largest shift, in pixels, of a smooth random grid distortion on top of the warp (0: none)
    distortion: float = 0.0
    augment: bool = True

    # training
    epochs: int = 16
    batch_size: int = 256
    # the one-cycle peak, chosen on validation alone (bench/results/lr_search_validation.json: 3e-3, 5e-3
    # and 7e-3 over seeds 1-3, the test set unread): 7e-3 led by 2.3 validation images of 6,000 on the
    # mean, more than the one-image step train_bench's search counts as a tie
    learning_rate: float = 7e-3
    schedule: str = "onecycle"  # "onecycle", "cosine" or "plateau" (ReduceLROnPlateau)
    label_smoothing: float = 0.1
    # validate, checkpoint and save an exponential moving average of the weights, updated every step
    # with this momentum (0 turns it off); the raw weights go on training underneath
    ema_momentum: float = 0.999
    # a one-cycle schedule only pays when it runs to its end: early stopping must not cut it
    early_stopping_patience: int = 20
    # training steps run in one call into TensorFlow; more leave less per-step Python overhead, which
    # on a small CPU is a noticeable share of a small network's step (1 runs each step on its own)
    steps_per_execution: int = 16
    plateau_patience: int = 2
    # networks trained one after another (seeds seed, seed + 1, ...) whose logits are averaged in one
    # saved model; 1 trains a single network
    members: int = 1
    deterministic: bool = True
    device: str = "auto"  # one of DEVICES
    # "auto": bfloat16 where the hardware computes it natively (AMX or AVX512-BF16 CPUs, TPUs),
    # float16 with loss scaling on GPUs with tensor cores, float32 elsewhere; the saved model is float32
    precision: str = "auto"
    # compile the training step with XLA: "auto" decides per run and says why (training/xla.py; off
    # wherever the augmentation is, since its warp has no XLA kernel), "on" or "off" force it
    xla: str = "auto"
    # write TensorBoard logs to run_dir/tensorboard while training (TensorFlow only)
    tensorboard: bool = False

    # outputs. None: models/ and figures/ for the default run (`full` with its settings; see
    # HOW_AND_WHERE), <run_dir>/models and <run_dir>/figures for any other, which so never replaces them
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
        check_types(self)
        if self.run_dir is None:
            self.run_dir = Path("runs") / self.profile
        for name in ("data_dir", "run_dir"):
            setattr(self, name, Path(getattr(self, name)))
        self.conv_filters = tuple(self.conv_filters)
        if isinstance(self.convs_per_block, int):
            self.convs_per_block = (self.convs_per_block,) * len(self.conv_filters)
        self.convs_per_block = tuple(self.convs_per_block)
        if len(self.convs_per_block) != len(self.conv_filters) or min(self.convs_per_block) < 1:
            raise ConfigError(
                f"convs_per_block {self.convs_per_block} needs one count of at least 1 for each of "
                f"the {len(self.conv_filters)} blocks in conv_filters"
            )
        for name, allowed in (("profile", tuple(PROFILES)), ("architecture", ARCHITECTURES),
                              ("schedule", SCHEDULES), ("device", DEVICES), ("padding", PADDINGS),
                              ("precision", PRECISIONS), ("xla", XLA_CHOICES)):
            if getattr(self, name) not in allowed:
                value = getattr(self, name)
                raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
        check_ranges(self)
        if self.distortion < 0:
            raise ConfigError("distortion is a largest shift in pixels: 0 or more")
        if self.architecture == "original" and (self.standardize or self.distortion):
            raise ConfigError("standardize and distortion belong to this project's network (architecture "
                             "fast); the original recipe is kept as written")
        if not 0 <= self.ema_momentum < 1:
            raise ConfigError("ema_momentum must be in [0, 1) (0 turns the weight average off)")
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
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        settings = {**PROFILES[profile], "profile": profile}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        _check_names(settings)
        return cls(**settings)

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
        _check_names(data)
        settings = {key: _coerce(key, value) for key, value in data.items()}
        return cls.from_profile(settings.pop("profile", "full"), **settings)

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


def _check_names(settings: dict[str, Any]) -> None:
    unknown = set(settings) - {f.name for f in dataclasses.fields(Config) if f.init}
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")


def _parse_value(key: str, text: str) -> Any:
    """A `--set` value as its setting's type: numbers, true/false, none, comma-separated lists."""
    if text.lower() in ("none", "null"):
        return _coerce(key, None)
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, str) and "," in value:
        value = [part.strip() for part in value.split(",")]
    return _coerce(key, value)


def _coerce(key: str, value: Any) -> Any:
    """`value` as the type of setting `key` (the type of its default), or a ValueError naming both."""
    default = {f.name: f.default for f in dataclasses.fields(Config)}[key]
    kind = type(default)
    try:
        if value is None:
            if key in ("train_limit", "test_limit", *PATHS):
                return None
            raise TypeError
        if kind is bool:
            if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
                return value.lower() in ("true", "yes", "1")
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind is tuple or key == "convs_per_block":
            items = value if isinstance(value, list | tuple) else [value]
            cast = str if key == "class_names" else int
            return tuple(cast(item) for item in items) if len(items) != 1 or kind is tuple else int(items[0])
        if kind in (int, float) or key in ("train_limit", "test_limit"):
            cast = float if kind is float else int
            fractional = isinstance(value, float) and not value.is_integer()
            if isinstance(value, bool) or (cast is int and fractional):
                raise TypeError
            return cast(value)
        if key in PATHS:
            return Path(str(value))
        if not isinstance(value, str):
            raise TypeError
        return value
    except (TypeError, ValueError):
        what = "a list" if kind is tuple else type(default).__name__ if default is not None else "a number"
        raise ConfigError(f"setting {key}={value!r}: expected {what}") from None


@functools.cache
def _reference() -> Config:
    return Config(models_dir=Path("models"), figures_dir=Path("figures"))


def check_switches(**switches: Any) -> None:
    """Refuse, naming it, a notebook switch that is not True, False or None."""
    for name, value in switches.items():
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected True, False or None")
