"""Which engine serves each kind: `auto` picks the GPU engine when it can run, else the embedded one.

The web tier reads this table to name the engine in cache keys without importing the
engine's heavy modules; only workers import and build engines. Bump an engine's
`version` here whenever its output for the same request changes, so cached results
made by the old code are not served for the new.
"""
import importlib
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class EngineSpec:
    """Where an engine class lives, its output version, and a cheap check that it can run here.

    `unavailable(config)` returns None when the engine can run, else the reason it cannot; it
    never imports torch or loads weights (the web tier calls it).
    """

    target: str  # "module:Class"
    version: str
    unavailable: Callable[[dict], str | None]


def _cuda_device():
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU"
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")):
        return "no NVIDIA GPU on this machine"
    return None


def _package(name, root=None):
    if root and (Path(root) / name).is_dir():
        return None
    return None if importlib.util.find_spec(name) is not None else f"the {name} package is not installed"


def _cosyvoice3_unavailable(config):
    from backend.engines.tts_cosyvoice3 import missing_files

    missing = missing_files(config["COSYVOICE_MODEL_DIR"])
    if missing:
        return f"COSYVOICE_MODEL_DIR={config['COSYVOICE_MODEL_DIR']} lacks {', '.join(missing[:3])}"
    return _package("cosyvoice", config.get("COSYVOICE_ROOT")) or _package("torch") or _cuda_device()


def _sd_lora_unavailable(config):
    path = Path(config["SD_MODEL_DIR"])
    if not (path.is_file() and path.suffix == ".safetensors") and not (path / "model_index.json").exists():
        return f"SD_MODEL_DIR={path} is neither a diffusers folder nor a .safetensors file"
    cpu = config.get("SD_DEVICE", "cuda") == "cpu"  # an operator's explicit (slow) choice, and the tests'
    return _package("diffusers") or _package("torch") or _package("mediapipe") or (None if cpu else _cuda_device())


def _espeak_unavailable(config):
    return None if shutil.which("espeak-ng") else "espeak-ng is not installed"


def _mediapipe_unavailable(config):
    return _package("mediapipe")


# kind -> engines in order of preference for `auto`
ENGINES = {
    "tts": {
        "cosyvoice3": EngineSpec("backend.engines.tts_cosyvoice3:CosyVoice3TTS", "1", _cosyvoice3_unavailable),
        "espeak-world": EngineSpec("backend.engines.tts_espeak_world:EspeakWorldTTS", "1", _espeak_unavailable),
    },
    "emoji": {
        "sd-lora": EngineSpec("backend.engines.emoji_sd_lora:SdLoraStickerEngine", "1", _sd_lora_unavailable),
        "classic": EngineSpec("backend.engines.emoji_classic:ClassicStickerEngine", "1", _mediapipe_unavailable),
    },
}

_loaded = {}
_lock = threading.Lock()


def spec(kind, name):
    """The registered spec of an engine, or ValueError naming the choices."""
    if name not in ENGINES.get(kind, {}):
        raise ValueError(f"{kind.upper()}_ENGINE={name!r} is not a {kind} engine; use one of {list(ENGINES.get(kind, {}))}")
    return ENGINES[kind][name]


def explain(kind, config):
    """`(chosen name, {other engine: why it was not chosen})` for `kind` (checks, does not load)."""
    wanted = config.get(f"{kind.upper()}_ENGINE", "auto")
    if wanted != "auto":
        spec(kind, wanted)
        return wanted, {name: "not configured" for name in ENGINES[kind] if name != wanted}
    reasons = {}
    for name, candidate in ENGINES[kind].items():
        reason = candidate.unavailable(config)
        if reason is None:
            return name, reasons
        reasons[name] = reason
    raise RuntimeError(f"no {kind} engine can run here: {reasons}; run `make install`")


def resolve(kind, config):
    """The engine name configuration selects for `kind` (checking, not loading, the engine)."""
    return explain(kind, config)[0]


def check_configured(kind, config):
    """A configured (not `auto`) engine that cannot run here: the message that stops the worker."""
    wanted = config.get(f"{kind.upper()}_ENGINE", "auto")
    if wanted == "auto":
        return None
    reason = spec(kind, wanted).unavailable(config)
    return f"{kind.upper()}_ENGINE={wanted} cannot run here: {reason}" if reason else None


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


def loaded():
    """The engine instances this process has created."""
    with _lock:
        return list(_loaded.values())
