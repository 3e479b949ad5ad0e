# Two commands do everything on a fresh machine with Python 3.11:
#   make run    set up .venv (first time: a few minutes) and start the app
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done

.PHONY: run test setup lint clean-venv

run: setup
	$(BIN)/vunet-studio

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

setup: $(STAMP)

# Order matters: the torch pair first (pip takes it from this machine's disk), then
# openpifpaf-vita compiled against it without build isolation (its setup.py forces C++17,
# torch's headers need C++20: scripts/cc-cxx20 raises the standard), then the project.
# pip < 25 because newer pips refuse openpifpaf-vita's git-URL 'train' extra outright.
# mediapipe (the bundled pose estimator and person segmentation, weights in its wheel) goes
# in last with --no-deps: its declared opencv-contrib-python would bring a second cv2 and its
# protobuf<5 is a declaration only (pyproject.toml pins the set checked to work together).
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "pip>=23,<25" wheel setuptools
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -c "import openpifpaf" 2>/dev/null || \
		CC="$(CURDIR)/scripts/cc-cxx20" CXX="$(CURDIR)/scripts/cc-cxx20" \
		$(BIN)/python -m pip install -q --no-build-isolation openpifpaf-vita
	$(BIN)/python -m pip install -q -e ".[test]"
	$(BIN)/python -m pip install -q --no-deps mediapipe==0.10.14
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check vunet_studio training tests benchmarks scripts
	$(BIN)/mypy

clean-venv:
	rm -rf $(VENV)
