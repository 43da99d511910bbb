"""The notebook as its users see it (`make test-jupyter`): JupyterLab in headless Chromium, Run All twice.

A copy of the repository (never this working tree: autosave and the run would write into it) is
served by JupyterLab from the environment `make test-jupyter` builds (.runtimes/jupyter), its kernel
importing the copy's package. The copy's notebook asks for `profile = "smoke"` and the draw-a-digit
page; Selenium opens it, runs all cells through the Run menu, waits for the kernel, and runs all
again in the same kernel, as a user changing a setting would. Each time no cell may show a stderr
box, an error or known noise; the live bar must redraw in place, the curves appear, and the page
answer a drawn 7; the copy's committed models/ and figures/ must be as they were. A failing run
saves screenshots and the notebook's outputs, and says where.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serving.test_demo import (
    CHROMEDRIVER,
    CHROMIUM,
    VERDICT,
    draw_seven,
    free_port,
    open_browser,
    predict_and_wait,
    wait_for,
)

pytestmark = [pytest.mark.runtimes, pytest.mark.slow]
# relative to the repository: JupyterLab starts in a copy of it elsewhere
JUPYTER_ENV = ROOT / os.environ.get("JUPYTER_ENV", ".runtimes/jupyter")
RUN_TIMEOUT = 420  # one Run All of the smoke profile: about a minute on a 2-core machine
# what a healthy run never prints: Gradio's close line, TensorFlow's and tqdm's warnings, tracebacks
NOISE = re.compile(r"Closing server running on port|retracing|TqdmWarning|IProgress not found|"
                   r"Traceback|Warning:|WARNING", re.IGNORECASE)
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
ERROR = '[data-mime-type="application/vnd.jupyter.error"]'
# the page's state, read through JupyterLab's own objects (the app is exposed for this test)
PANEL_JS = "const panel = window.jupyterapp.shell.currentWidget;"
STATE_JS = PANEL_JS + """
const cells = panel.content.widgets.filter(c => c.model.type === 'code');
return {dirty: panel.context.model.dirty, kernel: panel.sessionContext.session?.kernel?.status ?? null,
        pending: panel.sessionContext.session?.kernel?.hasPendingInput ?? false,
        counts: cells.map(c => c.model.executionCount),
        outputs: cells.map(c => c.model.outputs.toJSON()),
        sources: cells.map(c => c.model.sharedModel.getSource())};
"""
# every state the bar shows, recorded as it is redrawn (polling could miss a second-long epoch)
WATCH_BAR_JS = """
window.barStates = [];
new MutationObserver(() => {
  for (const node of document.querySelectorAll('.jp-OutputArea-output pre')) {
    const text = node.textContent;
    const bar = /steps\\/s|\\d+\\/\\d+ steps/.test(text);
    if (bar && window.barStates.at(-1) !== text) window.barStates.push(text);
  }
}).observe(document.body, {subtree: true, childList: true, characterData: true});
"""


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy_repository(target: Path) -> Path:
    """The working tree's tracked and unignored files (and the built C parser) under `target`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    built = [str(p.relative_to(ROOT)) for p in (ROOT / "src").rglob("*.so")]
    for name in filter(None, [*listed, *built]):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def ask_for_smoke_and_the_page(notebook: Path) -> None:
    """The copy's parameters cell set as a user would set it, the file's JSON layout kept."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    source = re.sub(r'^profile = "\w+"', 'profile = "smoke"', source, flags=re.M)
    source = re.sub(r"^launch_demo = None", "launch_demo = True", source, flags=re.M)
    assert 'profile = "smoke"' in source and "launch_demo = True" in source
    cell["source"] = source.splitlines(keepends=True)
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


@contextlib.contextmanager
def jupyterlab(root: Path, home: Path):
    """JupyterLab serving `root` on a free port with a token; yields its base URL and token."""
    port, token = free_port(), secrets.token_hex(16)
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the page, so that the checks below see every output (windowing draws only some)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "HOME": str(home)}
    env.pop("MPLBACKEND", None)
    log = (home / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [str(JUPYTER_ENV / "bin" / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--allow-root", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=",
         "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            assert server.poll() is None and time.monotonic() < deadline, \
                f"JupyterLab did not start: {(home / 'jupyterlab.log').read_text()[-2000:]}"
            time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def state(driver) -> dict:
    return driver.execute_script(STATE_JS)


def run_all_from_the_menu(driver) -> None:
    from selenium.webdriver.common.by import By

    menu = driver.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][normalize-space()='Run']")
    menu.click()
    item = wait_for(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, "li.lm-Menu-item[data-command='runmenu:run-all']"), "no Run All Cells item")
    item.click()


def wait_until_done(driver, timeout: float = RUN_TIMEOUT) -> dict:
    """The notebook once Run All has cleared the cells' execution counts, every code cell has a count
    again and the kernel is idle; or at the first error (Run All stops there)."""
    deadline, started = time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        now = state(driver)
        if any(o.get("output_type") == "error" for cell in now["outputs"] for o in cell):
            return now
        started = started or None in now["counts"] or now["kernel"] == "busy"
        if started and None not in now["counts"] and now["kernel"] == "idle" and not now["pending"]:
            return now
        time.sleep(0.5)
    raise AssertionError(f"Run All did not finish in {timeout} s: execution counts {state(driver)['counts']}")


def text_of(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output.get('ename')}: {output.get('evalue')}"
    data = output.get("data", {})
    return "".join(data.get("text/plain", "")) + "".join(data.get("text/html", ""))


def problems_of(driver, now: dict) -> list[str]:
    """Every stderr box, error and known noise in the page, by cell."""
    from selenium.webdriver.common.by import By

    found = []
    for index, (source, outputs, count) in enumerate(zip(now["sources"], now["outputs"], now["counts"],
                                                         strict=True)):
        where = f"code cell {index + 1} ({source.splitlines()[0][:50] if source else ''!r})"
        if count is None:
            found.append(f"{where}: not executed")
        for output in outputs:
            text = text_of(output)
            if output.get("output_type") == "error" or output.get("name") == "stderr":
                found.append(f"{where}: {output.get('output_type')} {output.get('name', '')} {text[:300]!r}")
            elif NOISE.search(text):
                found.append(f"{where}: noise {NOISE.search(text).group(0)!r} in {text[:300]!r}")
    for box in driver.find_elements(By.CSS_SELECTOR, f"{STDERR}, {ERROR}"):
        found.append(f"a red box on the page: {box.text[:300]!r}")
    return found


def answer_a_drawn_seven(driver) -> str:
    """Inside the notebook's frame of the page: draw a 7, press Predict, return the answer."""
    from selenium.webdriver.common.by import By

    frame = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output iframe"),
                     "no draw-a-digit frame in the notebook")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
    driver.switch_to.frame(frame)
    try:
        wait_for(driver, lambda d: (b := d.find_elements(By.CSS_SELECTOR, "#sketch .toolbar-wrap button"))
                 and "highlight" in (b[0].get_attribute("class") or ""), "the page did not choose its brush")
        inside = driver.execute_script("return [document.documentElement.scrollHeight, window.innerHeight]")
        draw_seven(driver)
        return predict_and_wait(driver), inside
    finally:
        driver.switch_to.default_content()


@pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                    reason=f"{CHROMIUM} is absent (make browser, as root, installs it)")
def test_the_notebook_in_jupyterlab_runs_all_twice_cleanly(tmp_path):
    if not (JUPYTER_ENV / "bin" / "jupyter-lab").exists():
        pytest.skip(f"no JupyterLab in {JUPYTER_ENV}: `make test-jupyter` builds it")
    pytest.importorskip("selenium", reason="selenium (the dev extra) is not installed")
    repo = copy_repository(tmp_path / "mnist-cnn")
    committed = {name: digest(repo / name) for name in ("models", "figures")}
    ask_for_smoke_and_the_page(repo / "notebooks" / "mnist_cnn.ipynb")
    shots, failures = tmp_path / "screenshots", []
    shots.mkdir()
    with jupyterlab(repo, tmp_path / "home") as (url, token):
        driver = open_browser(tmp_path / "chromium", width=1400, height=1000)
        try:
            driver.get(f"{url}/lab/tree/notebooks/mnist_cnn.ipynb?token={token}")
            opening = "return !!window.jupyterapp?.shell.currentWidget?.sessionContext"
            wait_for(driver, lambda d: d.execute_script(opening), "the notebook did not open", 120)
            wait_for(driver, lambda d: state(d)["kernel"] == "idle", "no kernel", 120)
            time.sleep(2)  # the kernel's metadata has arrived by now: what JupyterLab writes, it has written
            if state(driver)["dirty"] or driver.find_elements("css selector", ".lm-TabBar-tab.jp-mod-dirty"):
                failures.append("the notebook is marked changed as it opens")
            driver.execute_script(WATCH_BAR_JS)
            for attempt in (1, 2):
                run_all_from_the_menu(driver)
                done = wait_until_done(driver)
                driver.save_screenshot(str(shots / f"run{attempt}.png"))
                failures += [f"Run All #{attempt}: {problem}" for problem in problems_of(driver, done)]
                if None in done["counts"]:  # an error stopped Run All: the rest cannot be checked
                    break
                training = next(i for i, s in enumerate(done["sources"]) if "LiveTraining(" in s)
                kinds = [list(o.get("data", {})) for o in done["outputs"][training]]
                if not any("image/png" in k for k in kinds):
                    failures.append(f"Run All #{attempt}: no learning curves after training: {kinds}")
                bars = driver.execute_script("return window.barStates.splice(0)")
                if len(set(bars)) < 2:
                    failures.append(f"Run All #{attempt}: the bar was not redrawn within the epoch: {bars}")
                answer, (page_height, frame_height) = answer_a_drawn_seven(driver)
                if not VERDICT.fullmatch(answer):
                    failures.append(f"Run All #{attempt}: the page's answer to a drawn 7: {answer!r}")
                if page_height > frame_height:
                    failures.append(f"Run All #{attempt}: the page ({page_height} px) scrolls in its "
                                    f"{frame_height} px frame")
        except BaseException:
            with contextlib.suppress(Exception):
                driver.save_screenshot(str(shots / "failure.png"))
            raise
        finally:
            with contextlib.suppress(Exception):
                (shots / "notebook-state.json").write_text(json.dumps(state(driver), indent=1))
            driver.quit()
            print(f"\nJupyterLab test: screenshots and the notebook's last state in {shots}; "
                  f"JupyterLab's log in {tmp_path / 'home' / 'jupyterlab.log'}")
    if {name: digest(repo / name) for name in committed} != committed:
        failures.append("the run changed the committed models/ or figures/")
    assert not failures, "\n".join(failures)
