# Two commands from a fresh clone: `make run` (the main job) and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROFILE ?= full

.PHONY: setup browser run test test-jupyter test-colab test-keras-matrix test-compat test-backends bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the stamp re-runs the install when the dependency lists change
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.txt setup.py src/mnist_cnn/data/_fastcsv.c
	$(BIN)/python -m pip install --quiet -r requirements.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

# execute the notebook headless on the embedded data: the default run (full) rewrites the committed
# notebook, models/ and figures/; any other profile writes its executed notebook, models and figures
# under runs/<profile>/. Then papermill's traces go (its injected cell folded into the parameters
# cell, its metadata dropped)
EXECUTED = $(if $(filter full,$(PROFILE)),notebooks/mnist_cnn.ipynb,runs/$(PROFILE)/mnist_cnn.ipynb)
run: setup
	mkdir -p $(dir $(EXECUTED))
	$(BIN)/papermill notebooks/mnist_cnn.ipynb $(EXECUTED) \
		-p profile $(PROFILE) --cwd notebooks -k python3 --log-output
	$(BIN)/python notebooks/strip_papermill.py $(EXECUTED)

# The demo page's browser test drives Debian's Chromium through its chromedriver. A fresh machine
# (CI runs as root) gets them here, once; without them, and not root, that one test is skipped.
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium and chromium-driver for the demo page's browser test"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				chromium chromium-driver >/dev/null; \
		else \
			echo "no /usr/bin/chromium (and not root to install it): the browser test will be skipped"; \
		fi; \
	fi

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# the notebook as its users see it: JupyterLab in headless Chromium, on a copy of the repository, the
# smoke profile run all twice in one kernel (tests/runtimes/test_jupyterlab.py). Its environment is what
# the README's "For Jupyter" line gives a user: make setup's packages and JupyterLab
JUPYTER_ENV ?= .runtimes/jupyter
$(JUPYTER_ENV)/.installed: pyproject.toml requirements.txt setup.py
	rm -rf $(JUPYTER_ENV)
	$(PYTHON) -m venv $(JUPYTER_ENV)
	$(JUPYTER_ENV)/bin/python -m pip install --quiet --upgrade pip
	$(JUPYTER_ENV)/bin/python -m pip install --quiet -r requirements.txt -e ".[dev]" "jupyterlab>=4.4,<5"
	touch $@

test-jupyter: setup browser $(JUPYTER_ENV)/.installed
	JUPYTER_ENV=$(JUPYTER_ENV) $(BIN)/python -m pytest --runtimes -m runtimes -p no:cacheprovider -q \
		tests/runtimes/test_jupyterlab.py

# a second environment with the oldest versions requirements.txt allows (Colab's lag the newest):
# the smoke notebook, the plain-Keras load of the saved models, and prediction must pass there too
COMPAT ?= .venv-compat
$(COMPAT)/.installed: requirements.txt pyproject.toml setup.py .ci/oldest_requirements.py
	rm -rf $(COMPAT)
	$(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT)/bin/python -m pip install --quiet $$($(PYTHON) .ci/oldest_requirements.py) "pytest>=8,<10"
	$(COMPAT)/bin/python -m pip install --quiet --no-deps -e .
	$(COMPAT)/bin/python -m ipykernel install --prefix $(COMPAT) --name python3 >/dev/null
	touch $@

test-compat: $(COMPAT)/.installed
	$(COMPAT)/bin/python -c "import tensorflow as t, keras as k, numpy as n, PIL as p; \
		print('oldest allowed: tensorflow', t.__version__, 'keras', k.__version__, 'numpy', n.__version__, 'pillow', p.__version__)"
	$(COMPAT)/bin/python -m pytest -p no:cacheprovider -o addopts="" -q \
		tests/test_notebook.py::test_notebook_runs_end_to_end_with_the_smoke_profile \
		tests/serving/test_model_artefact.py tests/serving/test_predict.py

# Colab's runtime (tests/runtimes/colab-2026-08-19.txt, Python 3.13): the notebook's Colab path end to
# end, `pip check` after its install, and the draw-a-digit page answering over HTTP
test-colab: setup
	$(BIN)/python -m pytest --runtimes -m runtimes tests/runtimes/test_colab.py

# the saved models in every Keras Colab has shipped since 2025 (3.8 to 3.14, on their TensorFlow), and
# training, resume and saving in each Keras the floor allows; environments are kept under .runtimes/
test-keras-matrix: setup
	$(BIN)/python -m pytest --runtimes -m runtimes tests/runtimes/test_keras_matrix.py

# Keras' other backends, each in an environment built from the registries without TensorFlow: JAX
# (jax's CPU build), and PyTorch (2.13.0: the CPU build on this project's machines' disk; any other
# version is a CUDA download of several GB). In each, with KERAS_BACKEND set: every module imports,
# train with a kill and a resume, the same weights twice, a run from another backend refused, two
# devices on JAX, the smoke notebook; then every backend's saved models load in every backend.
BACKENDS_DIR ?= .runtimes/backends
BACKEND_TESTS = tests/backends/test_backends.py tests/test_notebook.py::test_notebook_runs_end_to_end_with_the_smoke_profile
JAX_ENV = $(BACKENDS_DIR)/jax
TORCH_ENV = $(BACKENDS_DIR)/torch
$(BACKENDS_DIR)/%/.installed: pyproject.toml requirements.txt setup.py
	rm -rf $(BACKENDS_DIR)/$*
	$(PYTHON) -m venv $(BACKENDS_DIR)/$*
	$(BACKENDS_DIR)/$*/bin/python -m pip install --quiet --upgrade pip
	$(BACKENDS_DIR)/$*/bin/python -m pip install --quiet $(if $(filter torch,$*),torch==2.13.0,jax) \
		-e ".[$*,notebook]" "pytest>=8,<10"
	$(BACKENDS_DIR)/$*/bin/python -m ipykernel install --prefix $(BACKENDS_DIR)/$* --name python3 >/dev/null
	touch $@

test-backends: setup $(JAX_ENV)/.installed $(TORCH_ENV)/.installed
	rm -rf $(BACKENDS_DIR)/models
	$(BIN)/python -m pytest --backends -m backends -p no:cacheprovider -q tests/backends
	KERAS_BACKEND=jax $(JAX_ENV)/bin/python -m pytest --backends -p no:cacheprovider -q $(BACKEND_TESTS)
	KERAS_BACKEND=torch $(TORCH_ENV)/bin/python -m pytest --backends -p no:cacheprovider -q $(BACKEND_TESTS)
	for env in $(VENV) $(JAX_ENV) $(TORCH_ENV); do \
		backend=$$(case $$env in *jax) echo jax;; *torch) echo torch;; *) echo tensorflow;; esac); \
		BACKENDS_SAVED="tensorflow jax torch" KERAS_BACKEND=$$backend $$env/bin/python -m pytest \
			--backends -p no:cacheprovider -q -k "every_backends_models" tests/backends || exit 1; \
	done

bench: setup
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/train_bench.py

clean:
	rm -rf $(VENV) $(COMPAT) .runtimes runs .pytest_cache .ruff_cache
