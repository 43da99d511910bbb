"""A draw-a-digit web page over a trained model (`mnist-cnn demo MODEL`), built with Gradio.

Each image takes `mnist-cnn predict`'s path under the same caps, so page, notebook and command agree. A bad
image is a message and one log line; answered uploads are deleted. Gradio is optional."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mnist_cnn.data.images import IMAGE_FORMATS, prepare_image, read_image
from mnist_cnn.io.errors import InputFileError
from mnist_cnn.io.limits import DEFAULT_LIMITS, Limits
from mnist_cnn.serving.predict import Prediction, predict_digits

if TYPE_CHECKING:
    import gradio

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "GRADIO_MISSING", "DigitReader", "build_demo", "launch",
           "require_gradio"]

DEFAULT_HOST = "127.0.0.1"  # this machine only: exposing the page is the caller's explicit choice
DEFAULT_PORT = 7860  # Gradio's usual port
GRADIO_MISSING = 'demo needs gradio: pip install "mnist-cnn[demo]"'
PREVIEW_SCALE = 8  # the 28x28 input shown as 224x224, each pixel a visible square
TOP_SHOWN = 3
CANVAS_SIDE = 400
FRAME_HEIGHT = 880  # the page is 857 px high in Chromium: a notebook's frame shows it with no scroll bar
# MNIST's strokes are 2-3 pixels of a 20-pixel digit: a digit 250-300 pixels tall needs a 30-pixel brush
BRUSH_RADIUS = 18
CACHE_SWEEP = (600, 600)  # Gradio's own cache files (previews) go after 10 min; uploads once answered
log = logging.getLogger(__name__)
_EXTENSIONS = {"JPEG": (".jpg", ".jpeg"), "TIFF": (".tif", ".tiff")}
UPLOAD_TYPES = [ext for fmt in IMAGE_FORMATS for ext in _EXTENSIONS.get(fmt, (f".{fmt.lower()}",))]
# the brush is the first button of the sketchpad's tool bar (its label is translated); it works only
# once the canvas is set up, so the page tries until the button shows as chosen, for 10 s at most
_SELECT_BRUSH = """() => {
    let tries = 0;
    const pick = () => {
        const brush = document.querySelector('#sketch .toolbar-wrap button');
        if (brush && brush.classList.contains('highlight')) return;
        if (brush) brush.click();
        if (++tries < 50) setTimeout(pick, 200);
    };
    pick();
}"""
EMPTY_DRAWING = "The drawing is empty: draw a digit first."
ERROR_TITLE = "Cannot use this image"
NO_UPLOAD = "Upload an image first (PNG, JPEG, BMP, GIF, TIFF or WebP)."


@dataclass(frozen=True)
class Answer:
    """What the page shows for one image: the model's input, its prediction, every class's probability."""

    digit: np.ndarray  # uint8 (28, 28), light on dark, as the model receives it
    prediction: Prediction  # `top` lists every class, most likely first

    @property
    def probabilities(self) -> dict[str, float]:
        return dict(self.prediction.top)

    def preview(self, scale: int = PREVIEW_SCALE) -> np.ndarray:
        """The 28x28 input enlarged by repeating pixels (nearest-neighbour: no smoothing to mislead)."""
        return np.kron(self.digit, np.ones((scale, scale), dtype=np.uint8))


class DigitReader:
    """Image files to predictions, one at a time: LiteRT's interpreter is not thread-safe."""

    def __init__(self, model: Any, class_names: Sequence[str], limits: Limits = DEFAULT_LIMITS) -> None:
        self.model = model
        self.class_names = tuple(class_names)
        self.limits = limits
        self._lock = threading.Lock()

    def read(self, path: str | os.PathLike, source: str | None = None, *, drawing: bool = False) -> Answer:
        """Predict one image file; `source` names it in messages. `InputFileError` for an unusable image."""
        source = source or Path(path).name
        try:
            gray = read_image(path, self.limits)
            if drawing and float(gray.max() - gray.min()) == 0.0:
                raise InputFileError(source, EMPTY_DRAWING)
            digit = prepare_image(gray, source)
        except InputFileError as err:
            # the upload's place in Gradio's cache means nothing to the person who sent it
            if str(path) != source and err.path == str(path):
                raise type(err)(source, err.reason) from None
            raise
        with self._lock:
            prediction = predict_digits(self.model, digit[np.newaxis], self.class_names, [source],
                                        top=len(self.class_names))[0]
        return Answer(digit, prediction)


def require_gradio() -> Any:
    """Import Gradio, or raise ImportError with `GRADIO_MISSING` (it is an optional extra)."""
    try:
        # through huggingface_hub, tqdm.auto warns "IProgress not found" in a Jupyter kernel without
        # ipywidgets: the page shows no progress bar, so that warning is not the user's to act on
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="IProgress not found")
            import gradio
    except ImportError as err:
        raise ImportError(GRADIO_MISSING) from err
    return gradio


def _refused(err: InputFileError) -> str:
    """The message for a refused image, logged as one line for whoever runs the server."""
    message = err.reason if err.reason == EMPTY_DRAWING else str(err)
    log.warning("refused an image: %s", message)
    return message


def forget_upload(path: str | os.PathLike | None, folder: Path) -> None:
    """Delete an answered upload and its subfolder from Gradio's cache `folder`, nothing outside it."""
    if path is None:
        return
    upload = Path(path).resolve()
    if folder not in upload.parents:
        return
    upload.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # Gradio keeps each upload in a folder of its own hash
        if upload.parent != folder:
            upload.parent.rmdir()


def build_demo(model: Any, class_names: Sequence[str], *, limits: Limits = DEFAULT_LIMITS) -> gradio.Blocks:
    """The page: a sketchpad and an upload, the 28x28 input, the top 3, and the `predict` API.

    `model` is a Keras model or a `LiteRTModel`; `class_names` its classes in output order."""
    gr = require_gradio()
    # where Gradio keeps uploads and drawings: GRADIO_TEMP_DIR, or <temp>/gradio
    reader, cache = DigitReader(model, class_names, limits), Path(gr.utils.get_upload_folder()).resolve()

    def show(path: str | None, source: str | None = None, *, drawing: bool = False) -> tuple[Any, Any, str]:
        """The page's outputs for one file: preview, top classes, status line; errors as the status."""
        if path is None:
            return None, None, EMPTY_DRAWING if drawing else NO_UPLOAD
        try:
            answer = reader.read(path, source, drawing=drawing)
        except InputFileError as err:
            return None, None, f"**{ERROR_TITLE}.** {_refused(err)}"
        finally:
            forget_upload(path, cache)
        best = answer.prediction
        # the Label rounds to whole percents; the line gives the top 3 to a tenth
        runners_up = ", ".join(f"{name} {p:.1%}" for name, p in best.top[1:TOP_SHOWN])
        verdict = f"The model reads **{best.label}** ({best.confidence:.1%}); next: {runners_up}."
        return answer.preview(), answer.probabilities, verdict

    def predict_drawing(drawing: dict | None) -> tuple[Any, Any, str]:
        return show((drawing or {}).get("composite"), "the drawing", drawing=True)

    def predict(image: str | None) -> dict[str, float]:
        """One image file in; out the most likely class and every class's probability."""
        if image is None:
            raise gr.Error(NO_UPLOAD, title=ERROR_TITLE, print_exception=False)
        try:
            return reader.read(image).probabilities
        except InputFileError as err:
            raise gr.Error(_refused(err), title=ERROR_TITLE, print_exception=False) from None
        finally:
            forget_upload(image, cache)

    with gr.Blocks(title="MNIST digit reader", analytics_enabled=False, delete_cache=CACHE_SWEEP) as demo:
        gr.Markdown("# Draw a digit\nDraw one digit, 0 to 9, large and centred, then press **Predict**; "
                    "or upload a photo of one. The model sees the 28x28 image on the right.")
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Tab("Draw"):
                    sketch = gr.Sketchpad(
                        label="Your digit", type="filepath", format="png", image_mode="RGBA",
                        canvas_size=(CANVAS_SIDE, CANVAS_SIDE), fixed_canvas=True, layers=False,
                        height=CANVAS_SIDE + 80,
                        transforms=(), brush=gr.Brush(colors=["#000000"], color_mode="fixed",
                                                      default_size=BRUSH_RADIUS),
                        elem_id="sketch",
                    )
                    draw_button = gr.Button("Predict", variant="primary", elem_id="predict-drawing")
                with gr.Tab("Upload"):
                    upload = gr.File(label="A photo or scan of one digit", file_types=UPLOAD_TYPES,
                                     type="filepath", elem_id="upload")
            with gr.Column(scale=2):
                preview = gr.Image(label="What the model receives (28x28)", type="numpy", format="png",
                                   interactive=False, height=PREVIEW_SCALE * 28 + 40, buttons=["download"],
                                   elem_id="preview")
                top = gr.Label(label=f"Top {TOP_SHOWN}", num_top_classes=TOP_SHOWN, elem_id="top")
                status = gr.Markdown(elem_id="status")
        # the API's output: a label listing every class (the page's Label keeps only the top 3)
        every_class = gr.Label(visible=False)
        api_button = gr.Button(visible=False)

        # Gradio's sketchpad starts with no tool chosen ("select the draw tool to start"): choose
        # the brush as the page opens, so a finger or the mouse draws at once
        demo.load(None, js=_SELECT_BRUSH)
        # one queue for all three events: a single prediction at a time (see DigitReader)
        page = {"outputs": [preview, top, status], "concurrency_id": "model", "api_visibility": "private"}
        draw_button.click(predict_drawing, sketch, **page)
        upload.upload(show, upload, **page)
        api_button.click(predict, upload, every_class, api_name="predict", concurrency_id="model")
    return demo


def launch(
    model: Any,
    class_names: Sequence[str],
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    limits: Limits = DEFAULT_LIMITS,
    block: bool = True,
    quiet: bool = False,
) -> gradio.Blocks:
    """Serve the page at http://host:port/ (127.0.0.1 by default); `OSError` if the port is taken.

    With `block` it returns when the server stops; else it returns the running Blocks."""
    demo = build_demo(model, class_names, limits=limits)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False,
        max_file_size=limits.image_file_bytes, prevent_thread_lock=not block, quiet=quiet,
        footer_links=["api"], height=FRAME_HEIGHT,
    )
    return demo


# what runs a notebook with no one at it: the page would only start a server nobody can draw on
_HEADLESS_RUNNERS = ("papermill", "nbconvert", "nbclient", "jupyter-execute", "pytest")


def running_headless() -> bool:
    """Whether a headless notebook runner (papermill, nbconvert, the tests) started this process's kernel."""
    # find_spec("google.colab") raises where no "google" package is installed at all
    if importlib.util.find_spec("google") and importlib.util.find_spec("google.colab"):
        return False
    try:
        import psutil

        this = psutil.Process()
        commands = [" ".join(process.cmdline()).lower() for process in (this, *this.parents())]
        return any(runner in command for command in commands for runner in _HEADLESS_RUNNERS)
    except Exception:  # no psutil, or a parent we may not inspect: assume a person is there
        return False


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port that nothing listens on now, on `host` (the notebook's page may run more than once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
