# Two commands from a fresh clone: `make run` (the main job) and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PROFILE ?= full

.PHONY: setup browser run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# the stamp re-runs the install when the dependency lists change
$(VENV)/.installed: $(BIN)/python pyproject.toml requirements.txt setup.py src/mnist_cnn/_fastcsv.c
	$(BIN)/python -m pip install --quiet -r requirements.txt -e ".[dev]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

# execute the notebook headless on the embedded data: writes the executed notebook, models/, figures/
run: setup
	$(BIN)/papermill notebooks/mnist_cnn.ipynb notebooks/mnist_cnn.ipynb \
		-p profile $(PROFILE) --cwd notebooks -k python3 --log-output

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

bench: setup
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/train_bench.py

clean:
	rm -rf $(VENV) data/.cache runs .pytest_cache .ruff_cache
