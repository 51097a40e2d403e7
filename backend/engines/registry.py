"""Which engine serves each kind: `auto` picks the GPU engine when it can run, else the embedded one.

The web tier reads this table to name the engine in cache keys without importing the
engine's heavy modules; only workers import and build engines. Bump an engine's
`version` here whenever its output for the same request changes, so cached results
made by the old code are not served for the new.
"""
import importlib
import importlib.util
import shutil
import threading
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class EngineSpec:
    """Where an engine class lives, its output version, and a cheap check that it can run here."""

    target: str  # "module:Class"
    version: str
    available: Callable[[dict], bool]


def _espeak_available(config):
    return shutil.which("espeak-ng") is not None


def _mediapipe_available(config):
    return importlib.util.find_spec("mediapipe") is not None


# kind -> engines in order of preference for `auto`
ENGINES = {
    "tts": {
        "espeak-world": EngineSpec("backend.engines.tts_espeak_world:EspeakWorldTTS", "1", _espeak_available),
    },
    "emoji": {
        "classic": EngineSpec("backend.engines.emoji_classic:ClassicStickerEngine", "1", _mediapipe_available),
    },
}

_loaded = {}
_lock = threading.Lock()


def spec(kind, name):
    """The registered spec of an engine, or ValueError naming the choices."""
    if name not in ENGINES.get(kind, {}):
        raise ValueError(f"{kind.upper()}_ENGINE={name!r} is not a {kind} engine; use one of {list(ENGINES.get(kind, {}))}")
    return ENGINES[kind][name]


def resolve(kind, config):
    """The engine name configuration selects for `kind` (checking, not loading, the engine)."""
    wanted = config.get(f"{kind.upper()}_ENGINE", "auto")
    if wanted != "auto":
        spec(kind, wanted)
        return wanted
    for name, candidate in ENGINES[kind].items():
        if candidate.available(config):
            return name
    raise RuntimeError(f"no {kind} engine can run here; run `make install` (espeak-ng, mediapipe)")


def describe(kind, config):
    """`(name, version)` of the engine that serves `kind`; part of every cache key."""
    name = resolve(kind, config)
    return name, spec(kind, name).version


def load(kind, config):
    """The process's engine instance for `kind`, created once (one model per worker process)."""
    with _lock:
        if kind not in _loaded:
            name = resolve(kind, config)
            module, _, cls = spec(kind, name).target.partition(":")
            _loaded[kind] = getattr(importlib.import_module(module), cls).from_config(config)
        return _loaded[kind]
