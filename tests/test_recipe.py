"""The notebook's Keras code and the package's recipe are the same recipe, for every profile: the same
network (layer by layer, with every setting), the same augmentation, the same `compile` (optimizer,
loss, metrics, execution), the same callbacks in the same order, and the same `fit` call. The
notebook's cells are run here as they are written, so an edit to either side that the other lacks
fails this test (a student's deliberate edit trains anyway: tests/test_notebook.py)."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from pathlib import Path

import keras
import pytest

from mnist_cnn.config import Config
from mnist_cnn.profiles import PROFILES
from mnist_cnn.training import recipe as package
from mnist_cnn.training.fused_norm import FusedBatchNormalization
from mnist_cnn.training.schedules import learning_rate
from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "mnist_cnn.ipynb"
DEFINED = ("augmentation", "build_network", "compile_network", "recipe_callbacks", "fit_network")
# settings beyond the profiles that change the network's code path
VARIANTS = {"full without batch norm": ("full", {"batch_norm": False}),
            "full without a dense layer": ("full", {"dense_units": 0}),
            "quick, same padding": ("quick", {"padding": "same"}),
            "full, each image standardised": ("full", {"standardize": True}),
            "full with a grid distortion": ("full", {"distortion": 1.0})}
CASES = {**{name: (name, {}) for name in PROFILES}, **VARIANTS}


def notebook_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.fixture(scope="module")
def notebook_recipe() -> dict:
    """The notebook's recipe cells run as written (their `.summary()` call on the smoke profile)."""
    namespace = {"keras": keras, "config": Config.from_profile("smoke")}
    for source in notebook_cells():
        if any(f"def {name}(" in source for name in DEFINED):
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    assert all(name in namespace for name in (*DEFINED, "recipe"))
    return namespace


def without_names(settings):
    """Settings with every layer's name left out, however deep (Keras numbers unnamed layers)."""
    if isinstance(settings, dict):
        return {k: without_names(v) for k, v in settings.items() if k != "name"}
    if isinstance(settings, list):
        return [without_names(item) for item in settings]
    return settings


def layer_settings(model: keras.Model) -> list[tuple[str, dict]]:
    """Each layer's class and settings, names aside."""
    return [(type(layer).__name__, without_names(layer.get_config())) for layer in model.layers]


@pytest.mark.parametrize("case", list(CASES))
def test_the_notebooks_network_is_the_packages(notebook_recipe, case):
    profile, overrides = CASES[case]
    config = Config.from_profile(profile, **overrides)
    for norm in (keras.layers.BatchNormalization, FusedBatchNormalization):
        ours = notebook_recipe["build_network"](config, norm)
        theirs = package.PACKAGE_RECIPE.network(config, norm)
        assert layer_settings(ours) == layer_settings(theirs), (case, norm.__name__)
        assert ours.name == theirs.name and ours.count_params() == theirs.count_params()
    if config.augment:
        ours = notebook_recipe["augmentation"](config)
        theirs = package.PACKAGE_RECIPE.augmentation(config)
        assert type(ours) is type(theirs)
        assert without_names(ours.get_config()) == without_names(theirs.get_config())
        assert ours.name == theirs.name == "augmentation"


class CompileRecorder:
    """Stands in for a model: keeps what `compile` was given."""

    def compile(self, **arguments):
        self.arguments = arguments


def described(value):
    """A compile argument as its class and settings (names aside), or as itself."""
    if isinstance(value, list):
        return [described(item) for item in value]
    if hasattr(value, "get_config"):
        return type(value).__name__, {k: v for k, v in value.get_config().items() if k != "name"}
    return value


@pytest.mark.parametrize("profile", list(PROFILES))
def test_the_notebooks_compile_is_the_packages(notebook_recipe, profile):
    config = Config.from_profile(profile)
    given = []
    for compile_network in (notebook_recipe["compile_network"], package.PACKAGE_RECIPE.compile):
        model = CompileRecorder()
        compile_network(model, config, learning_rate(config, 100), steps_per_execution=4, jit_compile=False)
        given.append({name: described(value) for name, value in model.arguments.items()})
    assert given[0] == given[1]
    assert given[0]["steps_per_execution"] == 4 and given[0]["optimizer"][0] == "AveragingAdam"


def callback_settings(callbacks: list) -> list[tuple[str, dict]]:
    wanted = ("monitor", "mode", "patience", "restore_best_weights", "save_best_only", "save_weights_only",
              "factor", "min_lr", "swap_on_epoch", "final_path", "best")
    return [(type(c).__name__, {k: str(v) for k, v in vars(c).items() if k in wanted}) for c in callbacks]


@pytest.mark.parametrize("case", list(CASES))
def test_the_notebooks_callbacks_are_the_packages(notebook_recipe, case, tmp_path):
    profile, overrides = CASES[case]
    config = Config.from_profile(profile, **overrides)
    for best in (None, 0.97):
        ours = notebook_recipe["recipe_callbacks"](config, tmp_path / "best.weights.h5", best)
        theirs = package.PACKAGE_RECIPE.callbacks(config, tmp_path / "best.weights.h5", best)
        assert callback_settings(ours) == callback_settings(theirs), case
    names = [type(c).__name__ for c in theirs]
    assert "AtomicModelCheckpoint" in names and "EarlyStopping" in names
    assert ("ReduceLROnPlateau" in names) is (config.schedule == "plateau")


def call_of(function) -> str:
    """The `model.fit(...)` call in `function`'s body, as a syntax tree (comments and layout aside)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    (call,) = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Attribute) and node.func.attr == "fit"]
    return ast.dump(call)


def test_the_notebooks_fit_is_the_packages(notebook_recipe):
    source = next(s for s in notebook_cells() if "def fit_network(" in s)
    tree = ast.parse(source)
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "fit_network"]
    ours = next(n for n in ast.walk(function) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == "fit")
    assert ast.dump(ours) == call_of(package.fit_network)
    assert [a.arg for a in function.args.args] == list(inspect.signature(package.fit_network).parameters)


def test_the_notebook_trains_its_own_recipe():
    """The training cell passes the notebook's recipe, and the recipe holds the notebook's functions."""
    (train_cell,) = [s for s in notebook_cells() if "pipeline.fit(" in s]
    assert "pipeline.fit(run, recipe," in train_cell
    lines = [line for cell in notebook_cells() for line in cell.splitlines()]
    (recipe_line,) = [line for line in lines if line.startswith("recipe = ")]
    assert recipe_line == ("recipe = Recipe(build_network, augmentation, compile_network, recipe_callbacks, "
                           "fit_network)")


def test_the_notebook_shows_the_keras_story():
    """What a reader of the rendered notebook sees: every layer, the compile, the callbacks, the fit."""
    code = "\n".join(notebook_cells())
    for piece in ("layers.Conv2D(", "layers.MaxPooling2D(", "layers.Dropout(", "layers.Dense(", "norm(",
                  "model.compile(", "keras.callbacks.EarlyStopping(", "AtomicModelCheckpoint(",
                  "keras.callbacks.ReduceLROnPlateau(", "model.fit(", "layers.RandomRotation("):
        assert piece in code, piece
    assert Path(inspect.getsourcefile(package)).name == "recipe.py"
