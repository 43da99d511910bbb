"""The draw-a-digit page, `mnist-cnn demo`: its command, its `predict` API and the page in a browser.

The server runs in this process on a free port of 127.0.0.1, started through `mnist-cnn demo` itself
(with `launch` told not to block) and serving the session's small trained model. Answers are checked
against what `mnist-cnn predict --json` prints for the same files. The browser test drives Debian's
headless Chromium with Selenium and the system chromedriver (nothing is downloaded); it is skipped
only where /usr/bin/chromium is absent (`make test` installs it when run as root).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import socket
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cnn.cli import build_parser, main
from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.io.errors import InputFileError
from mnist_cnn.serving import demo
from tests.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SAMPLES = sorted(p for p in (ROOT / "data" / "samples").iterdir() if p.suffix in (".png", ".jpg"))
MNIST_DIGITS = 12
REQUEST_TIMEOUT = 60  # seconds for one answer; every loop below is bounded in count and in time
PAGE_TIMEOUT = 60
# the page's status line after a prediction: the top 3, each with its probability to a tenth
VERDICT = re.compile(r"The model reads (\S+) \((\d+\.\d%)\); next: (\S+) (\d+\.\d%), (\S+) (\d+\.\d%)\.")
# Gradio 6's queue calls pandas options that pandas 3 deprecates: its noise, not ours
pytestmark = pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli_predictions(model_path: Path, paths: list[Path], top: int = 10) -> dict[str, dict]:
    """What `mnist-cnn predict MODEL PATH... --json --top N` prints, by source path."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # --tf-logs leaves the test process's stderr alone
        status = main(["--tf-logs", "predict", str(model_path), *map(str, paths), "--json", f"--top={top}"])
    assert status == 0
    return {row["source"]: row for row in map(json.loads, out.getvalue().splitlines())}


def giant_png_header(side: int = 30_000) -> bytes:
    """A valid PNG of a few dozen bytes whose header declares side x side pixels (900 MP)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


# --- the command and the reader, without a server -------------------------------------------------

def test_demo_options_state_their_defaults_which_are_the_modules():
    sub = build_parser()._subparsers._group_actions[0].choices["demo"]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in (action.help or ""), f"demo {action.option_strings} hides its default"
    args = build_parser().parse_args(["demo", "m.keras"])
    assert (args.host, args.port) == (demo.DEFAULT_HOST, demo.DEFAULT_PORT) == ("127.0.0.1", 7860)


def test_without_gradio_the_command_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # what `import gradio` meets where it is missing
    status = main(["--tf-logs", "demo", "no-such-model.keras"])  # checked before the model is read
    err = capsys.readouterr().err
    assert status == 2
    assert err == 'mnist-cnn demo: error: demo needs gradio: pip install "mnist-cnn[demo]"\n'


@pytest.mark.slow  # Gradio's import and LiteRT's start: about 5 s
def test_the_command_serves_a_tflite_export_through_litert(monkeypatch):
    tflite = ROOT / "models" / "mnist_cnn.tflite"
    if not tflite.is_file():
        pytest.skip(f"{tflite} is not in this checkout")
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    served = {}
    monkeypatch.setattr(demo, "launch", lambda model, names, **options: served.update(
        model=model, names=names, **options))
    assert main(["--tf-logs", "demo", str(tflite), "--host", "127.0.0.2", "--port", "7999"]) == 0
    assert type(served["model"]).__name__ == "LiteRTModel" and served["names"] == tuple("0123456789")
    assert (served["host"], served["port"]) == ("127.0.0.2", 7999)


class _FixedModel:
    """A stand-in classifier: the same probabilities for every image."""

    output_shape = (None, 3)

    def predict(self, inputs, batch_size=None, verbose=0):
        return np.tile(np.array([[0.2, 0.7, 0.1]], dtype=np.float32), (len(inputs), 1))


def test_reader_names_the_upload_not_its_cached_copy_and_spots_an_empty_drawing(tmp_path):
    reader = demo.DigitReader(_FixedModel(), ["a", "b", "c"])
    text = tmp_path / "cache" / "x1" / "notes.png"
    text.parent.mkdir(parents=True)
    text.write_text("not an image")
    with pytest.raises(InputFileError, match=r"^photo\.png: not an image") as caught:
        reader.read(text, "photo.png")
    assert str(tmp_path) not in str(caught.value)
    blank = tmp_path / "blank.png"
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(blank)  # a sketchpad with nothing drawn
    with pytest.raises(InputFileError, match="The drawing is empty"):
        reader.read(blank, "the drawing", drawing=True)
    with pytest.raises(InputFileError, match="no digit found"):
        reader.read(blank)
    dot = tmp_path / "dot.png"  # a filled square: no strokes, no digit
    Image.fromarray(np.pad(np.zeros((9, 9), np.uint8), 20, constant_values=255)).save(dot)
    with pytest.raises(InputFileError, match="does not look like a digit"):
        reader.read(dot)
    ring = np.zeros((9, 9), np.uint8)
    ring[1:-1, 1:-1] = 255  # a small drawn 0: a one-pixel outline
    mark = tmp_path / "ring.png"
    Image.fromarray(np.pad(ring, 20, constant_values=255)).save(mark)
    answer = reader.read(mark)
    assert answer.prediction.label == "b" and list(answer.probabilities) == ["b", "a", "c"]
    assert answer.preview().shape == (28 * demo.PREVIEW_SCALE,) * 2
    assert (answer.preview()[:: demo.PREVIEW_SCALE, :: demo.PREVIEW_SCALE] == answer.digit).all()


# --- the server and its API -----------------------------------------------------------------------

@dataclass
class Server:
    url: str
    blocks: object
    cache: Path  # Gradio's folder for uploads and drawings
    model_path: Path


@pytest.fixture(scope="module")
def server(trained, tmp_path_factory) -> Iterator[Server]:
    """`mnist-cnn demo MODEL --port N` on the session's model, serving in a thread of this process."""
    pytest.importorskip("gradio", reason="the demo extra is not installed")
    folder = tmp_path_factory.mktemp("demo")
    real_launch, started = demo.launch, {}

    def launch_in_background(*args, **kwargs):
        started["blocks"] = real_launch(*args, **kwargs, block=False, quiet=True)
        return started["blocks"]

    port = free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(folder / "gradio"))
        patch.setattr(demo, "launch", launch_in_background)
        assert main(["--tf-logs", "demo", str(trained.keras_path), "--port", str(port)]) == 0
        try:
            url = f"http://127.0.0.1:{port}/"
            yield Server(url, started["blocks"], folder / "gradio", trained.keras_path)
        finally:
            started["blocks"].close()


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory) -> list[Path]:
    """MNIST test digits as a person would photograph them (dark on white, 4x larger), and the samples."""
    folder = tmp_path_factory.mktemp("digits")
    images, labels = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    paths = []
    for i in range(MNIST_DIGITS):
        path = folder / f"mnist_test_{i}_label_{labels[i]}.png"
        Image.fromarray(np.kron(255 - images[i], np.ones((4, 4), np.uint8))).save(path)
        paths.append(path)
    return paths + SAMPLES


def ask(client, path: Path) -> dict[str, float]:
    """The `predict` endpoint's answer for one file: the label, and each class's probability."""
    from gradio_client import handle_file

    answer = client.submit(handle_file(str(path)), api_name="/predict").result(timeout=REQUEST_TIMEOUT)
    probabilities = {c["label"]: c["confidence"] for c in answer["confidences"]}
    assert answer["label"] == max(probabilities, key=probabilities.get)
    return probabilities


def assert_same(probabilities: dict[str, float], expected: dict) -> None:
    assert max(probabilities, key=probabilities.get) == expected["label"], expected["source"]
    assert len(probabilities) == len(expected["top"]) == 10
    for name, p in expected["top"]:
        assert probabilities[name] == pytest.approx(p, abs=1e-5), (expected["source"], name)


@pytest.mark.slow
def test_the_api_answers_as_mnist_cnn_predict_does(server, digit_files):
    from gradio_client import Client

    expected = cli_predictions(server.model_path, digit_files)
    client = Client(server.url, verbose=False)
    assert "/predict" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for path in digit_files:
        assert_same(ask(client, path), expected[str(path)])


@pytest.mark.slow
def test_200_requests_from_4_threads_then_bad_uploads_leave_it_serving(server, digit_files, tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    expected = cli_predictions(server.model_path, digit_files)
    started = time.monotonic()

    def worker(offset: int) -> int:
        client, right = Client(server.url, verbose=False), 0
        for k in range(50):
            path = digit_files[(offset + k) % len(digit_files)]
            assert_same(ask(client, path), expected[str(path)])
            right += 1
        return right

    with ThreadPoolExecutor(max_workers=4) as pool:
        answered = [f.result(timeout=300) for f in [pool.submit(worker, w * 7) for w in range(4)]]
    assert sum(answered) == 200 and time.monotonic() - started < 300

    text = tmp_path / "notes.png"
    text.write_text("a shopping list, renamed")
    blank = tmp_path / "blank.png"
    Image.new("L", (120, 120), 255).save(blank)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(giant_png_header())
    client = Client(server.url, verbose=False)
    bad = {text: "notes.png: not an image", blank: "no digit found", bomb: "image_pixels"}
    for path, message in bad.items():
        with pytest.raises(AppError, match=message):
            ask(client, path)
        good = digit_files[0]
        assert_same(ask(client, good), expected[str(good)])


@pytest.mark.slow
def test_answered_uploads_leave_the_cache_and_each_refusal_is_one_log_line(
        server, digit_files, tmp_path, caplog, capfd):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server.url, verbose=False)
    capfd.readouterr()
    caplog.clear()
    ask(client, digit_files[0])
    notes = tmp_path / "notes.png"
    notes.write_text("a shopping list, renamed")
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(giant_png_header())
    for path, message in ((notes, "not an image"), (bomb, "image_pixels")):
        with pytest.raises(AppError, match=message):
            ask(client, path)
    kept = [p.name for p in server.cache.rglob("*") if p.is_file()]
    assert not {digit_files[0].name, notes.name, bomb.name} & set(kept), kept
    refusals = [r.getMessage() for r in caplog.records if r.name == "mnist_cnn.serving.demo"]
    assert [line.split(":")[:2] for line in refusals] == [
        ["refused an image", " notes.png"], ["refused an image", " bomb.png"]], refusals
    assert all("\n" not in line for line in refusals)
    logged = capfd.readouterr()
    assert "Traceback" not in logged.err + logged.out, logged.err[-2000:]


# --- the page, in a real browser ------------------------------------------------------------------

def open_browser(profile: Path, width: int = 1280, height: int = 1000):
    """Headless Chromium from Debian through its chromedriver: no Selenium Manager, no downloads."""
    import os

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not fetch a driver or a browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}", "--no-first-run",
                 "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-default-apps",
                 # the page is on this machine; the browser resolves no other host
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    return driver


def wait_for(driver, condition, message: str, timeout: float = PAGE_TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition, message)


def status_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "status").text.strip()


def open_page(driver, url: str) -> None:
    """Load the page and wait until its sketchpad has chosen the brush by itself."""
    from selenium.webdriver.common.by import By

    driver.get(url)

    def brush_chosen(d) -> bool:
        buttons = d.find_elements(By.CSS_SELECTOR, "#sketch .toolbar-wrap button")
        return bool(buttons) and "highlight" in (buttons[0].get_attribute("class") or "")

    wait_for(driver, brush_chosen, "the page did not choose the sketchpad's brush")


def draw_seven(driver) -> None:
    """A 7 drawn with the mouse: a bar across the top, then a stroke down to the left."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_elements(By.CSS_SELECTOR, "#sketch canvas")[-1]
    corners = [(-60, -90), (60, -90), (30, -20), (0, 40), (-15, 95)]  # from the canvas' centre
    stroke = ActionChains(driver, duration=15).move_to_element_with_offset(canvas, *corners[0])
    stroke.click_and_hold()
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        for _ in range(6):  # small steps, as a hand moves
            stroke.move_by_offset(round((x1 - x0) / 6), round((y1 - y0) / 6))
    stroke.release().perform()


def predict_and_wait(driver, button_id: str = "predict-drawing") -> str:
    """Press Predict and return the status line once it changes."""
    from selenium.webdriver.common.by import By

    before = status_text(driver)
    driver.find_element(By.ID, button_id).click()
    return wait_for(driver, lambda d: (s := status_text(d)) != before and s, "no answer on the page")


def top_classes(driver) -> list[tuple[str, str]]:
    """The page's top-3 list as (class, percentage) pairs, from the Label's text."""
    from selenium.webdriver.common.by import By

    lines = driver.find_element(By.ID, "top").text.split("\n")
    return re.findall(r"^(\S+)\n(\d+(?:\.\d+)?%)$", "\n".join(lines[2:]), flags=re.MULTILINE)


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_a_person_draws_a_seven_and_reads_the_answer(server, tmp_path):
    pytest.importorskip("selenium", reason="selenium (the dev extra) is not installed")
    from selenium.webdriver.common.by import By

    driver = open_browser(tmp_path / "profile")
    try:
        open_page(driver, server.url)
        assert predict_and_wait(driver) == demo.EMPTY_DRAWING  # Predict before drawing anything

        driver.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='Upload']").click()
        text = tmp_path / "holiday.png"
        text.write_text("not a photo at all")
        upload = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type=file]"),
                          "no upload field")
        upload.send_keys(str(text))
        message = wait_for(driver, lambda d: "Cannot use" in status_text(d) and status_text(d), "no error")
        assert "holiday.png: not an image" in message and "Traceback" not in message
        driver.find_element(By.CSS_SELECTOR, "#upload button[aria-label='Clear']").click()
        upload = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type=file]"),
                          "no upload field after clearing")
        upload.send_keys(str(SAMPLES[0]))  # and the page goes on answering
        wait_for(driver, lambda d: status_text(d).startswith("The model reads"), "no answer to a good upload")

        driver.find_element(By.XPATH, "//button[@role='tab' and normalize-space()='Draw']").click()
        open_page(driver, server.url)  # a fresh page: the drawing tab, brush chosen, nothing drawn
        draw_seven(driver)
        status = predict_and_wait(driver)
        found = VERDICT.fullmatch(status)
        assert found, status
        top = top_classes(driver)
        assert len(top) == 3 and top[0][0] == found.group(1), top
        assert driver.find_element(By.CSS_SELECTOR, "#preview img").get_attribute("src")
        driver.save_screenshot(str(tmp_path / "demo.png"))
    finally:
        driver.quit()

    # the drawing as the server received it: what `mnist-cnn predict` says for it is what the page said
    drawing = max(server.cache.rglob("composite.png"), key=lambda p: p.stat().st_mtime)
    expected = cli_predictions(server.model_path, [drawing], top=3)[str(drawing)]
    assert found.groups() == tuple(text for name, p in expected["top"] for text in (name, f"{p:.1%}"))
    assert [name for name, _ in top] == [name for name, _ in expected["top"]]
    assert Image.open(tmp_path / "demo.png").width == 1280


def test_a_headless_runner_is_recognised_and_free_ports_are_free():
    import socket

    from mnist_cnn.serving import demo

    assert demo.running_headless()  # this process runs under pytest, one of the headless runners
    port = demo.free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # nothing holds it
