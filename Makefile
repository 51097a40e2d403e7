# Two commands on a fresh Debian machine: `make run` (the whole stack) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := redis-server nginx espeak-ng ffmpeg fonts-noto-cjk build-essential python3-dev python3-venv libsndfile1 postgresql chromium nodejs
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install install-test system-deps bench

run: export VOXMOJI_DEV_LOGIN ?= 1
run: install
	$(PY) -m backend.stack prepare
	$(PY) -m backend.stack supervise

test: install-test
	$(VENV)/bin/pytest

bench: install
	$(PY) bench/tts_engine.py
	$(PY) bench/sticker_engine.py

install: system-deps $(VENV)/.installed

# The tests also run the GPU engines' real code (CPU torch, diffusers) against tiny stand-in models.
install-test: install $(VENV)/.installed-test

# Debian packages, installed only when something is missing.
system-deps:
	@missing=0; \
	for cmd in redis-server nginx espeak-ng ffmpeg g++ chromium node; do command -v $$cmd >/dev/null 2>&1 || missing=1; done; \
	[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing=1; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ $$missing = 1 ]; then \
		echo "Installing Debian packages: $(APT_PACKAGES)"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi

$(VENV)/.installed: requirements.txt requirements-nodeps.txt
	@python3 -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' || { \
		echo "VoxMoji needs Python 3.11 or 3.12 (mediapipe 0.10.14 ships wheels up to 3.12; tested on 3.11);" \
		     "python3 is $$(python3 -V 2>&1). Install python3.11 and put it first on PATH." >&2; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip wheel
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-test.txt
	touch $@
