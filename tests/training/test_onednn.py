"""The oneDNN kernel choice: who decides, and that TensorFlow then runs the kernels it says."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from mnist_cnn.training import onednn


@pytest.fixture
def clean_environment(monkeypatch):
    """No choice made yet, and TensorFlow not loaded, as in a fresh process."""
    for name in (onednn.VARIABLE, onednn._SET_BY_PACKAGE):
        monkeypatch.setenv(name, "")  # recorded, so that what the test sets is undone
        monkeypatch.delenv(name)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    return monkeypatch


def test_the_package_turns_the_kernels_on_on_linux_x86(clean_environment):
    clean_environment.setattr(platform, "system", lambda: "Linux")
    clean_environment.setattr(platform, "machine", lambda: "x86_64")
    onednn.choose_onednn()
    assert os.environ[onednn.VARIABLE] == "1"


def test_the_users_setting_stands(clean_environment):
    clean_environment.setenv(onednn.VARIABLE, "0")
    onednn.choose_onednn()
    assert os.environ[onednn.VARIABLE] == "0"


@pytest.mark.parametrize("system, machine", [("Darwin", "arm64"), ("Linux", "aarch64"), ("Windows", "AMD64")])
def test_other_platforms_keep_tensorflows_default(clean_environment, system, machine):
    clean_environment.setattr(platform, "system", lambda: system)
    clean_environment.setattr(platform, "machine", lambda: machine)
    onednn.choose_onednn()
    assert onednn.VARIABLE not in os.environ


def test_too_late_once_tensorflow_is_loaded(clean_environment):
    clean_environment.setitem(sys.modules, "tensorflow", object())
    onednn.choose_onednn()
    assert onednn.VARIABLE not in os.environ


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="auto, on or off"):
        onednn.onednn_requested("fast")


def test_auto_restarts_only_when_tensorflow_came_first_with_nobody_choosing(clean_environment):
    restarts = []
    clean_environment.setattr(os, "execv", lambda *args: restarts.append(args))
    clean_environment.setattr(platform, "system", lambda: "Linux")
    clean_environment.setattr(platform, "machine", lambda: "x86_64")
    onednn.run_with_onednn("auto")  # TensorFlow not loaded yet: chosen in time
    assert os.environ[onednn.VARIABLE] == "1" and not restarts
    clean_environment.setenv(onednn.VARIABLE, "0")
    clean_environment.setitem(sys.modules, "tensorflow", object())
    onednn.run_with_onednn("auto")  # the user's choice stands
    assert os.environ[onednn.VARIABLE] == "0" and not restarts
    clean_environment.delenv(onednn.VARIABLE)
    onednn.run_with_onednn("auto")  # too late for the variable alone: restart under it
    assert os.environ[onednn.VARIABLE] == "1" and len(restarts) == 1


@pytest.mark.parametrize("enabled, word", [(True, "on"), (False, "off"), (None, "unknown")])
def test_the_state_in_words_does_not_call_an_unknown_state_off(enabled, word):
    assert onednn.describe_onednn({"enabled": enabled, "reason": "why"}) == f"{word} (why)"


@pytest.mark.parametrize("flags, same_as_tensorflow", [
    ({"avx2", "fma"}, False),
    ({"avx2", "avx512f"}, False),
    ({"avx2", "avx512f", "avx512_bf16"}, True),
    ({"avx2", "amx_tile"}, True),
])
def test_the_reason_says_whether_tensorflow_would_have_chosen_the_same(flags, same_as_tensorflow):
    reason = onednn.package_reason(frozenset(flags))
    assert reason.startswith("turned on by mnist_cnn")
    assert ("as TensorFlow itself does" in reason) is same_as_tensorflow
    assert ("leaves them off on this CPU" in reason) is not same_as_tensorflow


# a small convolution and its gradient: with oneDNN's kernels on, oneDNN's verbose log names a
# convolution primitive; with Eigen's, it names none (a matrix product at most)
PROBE = """
import json, sys
{before}
import mnist_cnn
from mnist_cnn.training.onednn import onednn_state, run_with_onednn
{after}
import tensorflow as tf
x = tf.random.normal((4, 12, 12, 3))
kernel = tf.Variable(tf.random.normal((3, 3, 3, 8)))
with tf.GradientTape() as tape:
    y = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "VALID")))
tape.gradient(y, kernel)
print("STATE " + json.dumps(onednn_state()), flush=True)
"""


def probe(folder, before: str = "", after: str = "", **env: str) -> tuple[dict, bool]:
    environment = {k: v for k, v in os.environ.items()
                   if k not in (onednn.VARIABLE, onednn._SET_BY_PACKAGE)}
    environment.update(env, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="2")
    script = folder / "probe.py"  # a file, not -c: run_with_onednn restarts the process with its argv
    script.write_text(PROBE.format(before=before, after=after))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("STATE "))
    convolution = ",primitive,exec,cpu,convolution," in done.stdout + done.stderr
    return json.loads(line.removeprefix("STATE ")), convolution


pytestmark_linux = pytest.mark.skipif(not onednn._linux_x86(),
                                      reason="oneDNN's default is chosen on Linux x86-64 only")


@pytest.mark.slow
@pytestmark_linux
def test_importing_the_package_first_runs_onednns_kernels(tmp_path):
    state, convolution = probe(tmp_path)
    assert state["enabled"] is True and convolution
    assert state["reason"].startswith("turned on by mnist_cnn")


@pytest.mark.slow
@pytestmark_linux
def test_off_in_the_environment_runs_eigens_kernels(tmp_path):
    state, convolution = probe(tmp_path, **{onednn.VARIABLE: "0"})
    assert state["enabled"] is False and not convolution
    assert state["reason"] == f"{onednn.VARIABLE}=0 in the environment"


@pytest.mark.slow
@pytestmark_linux
def test_a_script_that_loaded_tensorflow_first_restarts_into_the_choice(tmp_path):
    # what the benchmarks do: `import keras` comes before the package, then `run_with_onednn`
    state, convolution = probe(tmp_path, before="import tensorflow", after='run_with_onednn("off")')
    assert state["enabled"] is False and not convolution
    state, convolution = probe(tmp_path, before="import tensorflow", after='run_with_onednn("auto")')
    assert state["enabled"] is True and convolution
