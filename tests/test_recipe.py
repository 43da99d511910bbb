"""The notebook's Keras code is the command line's, statement for statement: the augmentation and the
network (model.py), the compile and the callbacks (training/recipe.py), and the whole training cell
(training/loop.py's loop). Each notebook function must equal the package's as a syntax tree (comments,
layout, docstrings and type hints aside), so any edit on one side alone fails here; the cells are also
run for every profile and for a change of each setting they read, and must build what the package
builds. A student's deliberate edit trains anyway: tests/test_notebook.py."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap

import keras
import pytest

from mnist_cnn import model as package_model
from mnist_cnn.config import Config
from mnist_cnn.profiles import PROFILES
from mnist_cnn.training import loop
from mnist_cnn.training import recipe as package_recipe
from mnist_cnn.training.schedules import learning_rate
from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "mnist_cnn.ipynb"
PACKAGE = {"build_augmentation": package_model, "original_network": package_model,
           "fast_network": package_model, "build_network": package_model,
           "compile_network": package_recipe, "recipe_callbacks": package_recipe}
# every setting the network, the augmentation, the compile and the callbacks read, changed once
VARIANTS = {"full without batch norm": ("full", {"batch_norm": False}),
            "full without a dense layer": ("full", {"dense_units": 0}),
            "quick, same padding": ("quick", {"padding": "same"}),
            "full, each image standardised": ("full", {"standardize": True}),
            "full with a grid distortion": ("full", {"distortion": 1.0}),
            "full, dropout 0.3": ("full", {"dropout": 0.3}),
            "original, dropout 0.4": ("original", {"dropout": 0.4}),
            "full, seed 5": ("full", {"seed": 5}),
            "original, seed 5": ("original", {"seed": 5}),
            "original, zoom 0.2, translation 0.15, rotation 0.05": (
                "original", {"zoom": 0.2, "translation": 0.15, "rotation": 0.05}),
            "full, zoom 0.2, translation 0.15, rotation 0.05": (
                "full", {"zoom": 0.2, "translation": 0.15, "rotation": 0.05}),
            "full, three classes": ("full", {"class_names": ("a", "b", "c")}),
            "full, smoothing 0.2, no average": ("full", {"label_smoothing": 0.2, "ema_momentum": 0.0}),
            "full, learning rate 1e-3": ("full", {"learning_rate": 1e-3}),
            "original, patience 3 and 1": ("original", {"early_stopping_patience": 3, "plateau_patience": 1})}
CASES = {**{name: (name, {}) for name in PROFILES}, **VARIANTS}


def notebook_cells() -> list[str]:
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def bare(function: ast.FunctionDef) -> str:
    """A function's syntax tree without its docstring and type hints."""
    function = ast.parse(ast.unparse(function)).body[0]  # a copy
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        function.body = body[1:]
    function.returns = None
    arguments = function.args
    for argument in (*arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg):
        if argument is not None:
            argument.annotation = None
    return ast.dump(function)


def notebook_functions() -> dict[str, ast.FunctionDef]:
    found = {}
    for source in notebook_cells():
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name in PACKAGE:
                assert node.name not in found, f"{node.name} is defined twice in the notebook"
                found[node.name] = node
    return found


@pytest.mark.parametrize("name", list(PACKAGE))
def test_each_notebook_function_is_the_packages_as_written(name):
    ours = notebook_functions()[name]
    (theirs,) = ast.parse(textwrap.dedent(inspect.getsource(getattr(PACKAGE[name], name)))).body
    assert bare(ours) == bare(theirs), f"the notebook's {name} and {PACKAGE[name].__name__}.{name} differ"


def training_cell() -> ast.Module:
    (cell,) = [s for s in notebook_cells() if "model.fit(" in s]
    return ast.parse(cell)


def test_the_training_cell_is_the_command_lines_loop():
    """The whole cell: its loop is `loop.train`'s (names of the caller's arguments aside), and every
    other statement is one of the few it is allowed (imports, the live display, the result)."""
    cell = training_cell()
    (ours,) = [node for node in cell.body if isinstance(node, ast.For)]
    function = ast.parse(textwrap.dedent(inspect.getsource(loop.train))).body[0]
    (theirs,) = [node for node in function.body if isinstance(node, ast.For)]
    renames = {"print": "report", "live": "progress", "fresh_start": "fresh"}
    for node in ast.walk(ours):
        if isinstance(node, ast.Name) and node.id in renames:
            node.id = renames[node.id]
    assert ast.dump(ours) == ast.dump(theirs)
    allowed = {"live = LiveTraining()", "members = []", "run.result = result = combine_members(members)",
               "curves = run_files.save_figure(plots.training_curves(result.history), config.figures_dir, "
               "'training_curves')", "live.finish(curves, result)"}
    others = [ast.unparse(node) for node in cell.body
              if not isinstance(node, (ast.For, ast.Import, ast.ImportFrom))]
    assert set(others) <= allowed and len(others) == len(set(others)), others
    assert [n for n in cell.body if isinstance(n, ast.For)] == [cell.body[-4]]  # the result comes after


@pytest.fixture(scope="module")
def notebook_recipe() -> dict:
    """The notebook's definition cells run as written (their `.summary()` call on the smoke profile)."""
    namespace = {"keras": keras, "config": Config.from_profile("smoke")}
    for source in notebook_cells():
        if any(f"def {name}(" in source for name in PACKAGE):
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    assert all(name in namespace for name in PACKAGE)
    return namespace


def without_names(settings):
    """Settings with every layer's name left out, however deep (Keras numbers unnamed layers)."""
    if isinstance(settings, dict):
        return {k: without_names(v) for k, v in settings.items() if k != "name"}
    if isinstance(settings, list):
        return [without_names(item) for item in settings]
    return settings


def layer_settings(model: keras.Model) -> list[tuple[str, dict]]:
    return [(type(layer).__name__, without_names(layer.get_config())) for layer in model.layers]


@pytest.mark.parametrize("case", list(CASES))
def test_the_notebooks_cells_build_what_the_package_builds(notebook_recipe, case, tmp_path):
    profile, overrides = CASES[case]
    config = Config.from_profile(profile, **overrides)
    ours, theirs = notebook_recipe["build_network"](config), package_model.build_network(config)
    assert layer_settings(ours) == layer_settings(theirs) and ours.name == theirs.name
    ours, theirs = notebook_recipe["build_augmentation"](config), package_model.build_augmentation(config)
    assert type(ours) is type(theirs)
    assert without_names(ours.get_config()) == without_names(theirs.get_config())

    given = []
    for compile_network in (notebook_recipe["compile_network"], package_recipe.compile_network):
        recorder = CompileRecorder()
        compile_network(recorder, config, learning_rate(config, 100), steps_per_execution=4,
                        jit_compile=False)
        given.append({name: described(value) for name, value in recorder.arguments.items()})
    assert given[0] == given[1]

    for best in (None, 0.97):
        ours = notebook_recipe["recipe_callbacks"](config, tmp_path / "best.weights.h5", best)
        theirs = package_recipe.recipe_callbacks(config, tmp_path / "best.weights.h5", best)
        assert callback_settings(ours) == callback_settings(theirs), case


class CompileRecorder:
    """Stands in for a model: keeps what `compile` was given."""

    def compile(self, **arguments):
        self.arguments = arguments


def described(value):
    """A compile argument as its class and every setting, names included (metric names are kept)."""
    if isinstance(value, list):
        return [described(item) for item in value]
    if isinstance(value, keras.optimizers.Optimizer):  # Keras numbers each new optimizer's name
        return type(value).__name__, {k: v for k, v in value.get_config().items() if k != "name"}
    if hasattr(value, "get_config"):
        return type(value).__name__, value.get_config()
    return value


def callback_settings(callbacks: list) -> list[tuple[str, dict]]:
    """Each callback's class and every attribute it was built with (no run has touched them yet)."""
    return [(type(c).__name__, {k: repr(v) for k, v in vars(c).items()}) for c in callbacks]


def test_the_notebook_shows_the_keras_story():
    """What a reader of the rendered notebook sees: every layer, the compile, the callbacks, the fit."""
    code = "\n".join(notebook_cells())
    for piece in ("layers.Conv2D(", "layers.BatchNormalization(", "layers.MaxPooling2D(",
                  "layers.Dropout(", "layers.Dense(", "model.compile(", "keras.callbacks.EarlyStopping(",
                  "AtomicModelCheckpoint(", "keras.callbacks.ReduceLROnPlateau(", "model.fit(",
                  "layers.RandomRotation("):
        assert piece in code, piece
    assert "pipeline.fit(" not in code
    assert max(len(cell.splitlines()) for cell in notebook_cells()) <= 25
