"""Which engines a worker serves: `VOXMOJI_WORKER_ENGINES` pins them, `auto` takes the best that can run.

Only workers use this module (the web tier routes by the workers' heartbeats, engine_choice/fleet.py). The
engines' names, tiers and versions are engine_choice/lineup.py; here is where each one's code lives and a
cheap check of whether it can run on this machine.
"""
import importlib
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from backend.engine_choice import lineup


@dataclass(frozen=True)
class EngineSpec:
    """Where an engine class lives, and a cheap check that it can run here: `unavailable(config)` returns
    None when the engine can run, else the reason it cannot; it never imports torch or loads weights."""

    target: str  # "module:Class"
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
    cpu = config.get("COSYVOICE_DEVICE", "cuda") == "cpu"
    return _package("cosyvoice", config.get("COSYVOICE_ROOT")) or _package("torch") or (None if cpu else _cuda_device())


def _sd_lora_unavailable(config):
    path = Path(config["SD_MODEL_DIR"])
    if not (path.is_file() and path.suffix == ".safetensors") and not (path / "model_index.json").exists():
        return f"SD_MODEL_DIR={path} is neither a diffusers folder nor a .safetensors file"
    cpu = config.get("SD_DEVICE", "cuda") == "cpu"  # an operator's explicit (slow) choice, and the tests'
    return _package("diffusers") or _package("torch") or _package("mediapipe") or (None if cpu else _cuda_device())


def _model_dir_unavailable(config, setting, missing_files, hint=""):
    """Why the model directory a setting names cannot be used (unset, or lacking files), else None."""
    model_dir = config.get(setting)
    if not model_dir:
        return f"{setting} is not set{hint}"
    missing = missing_files(model_dir)
    return f"{setting}={model_dir} lacks {', '.join(missing[:3])}{hint}" if missing else None


def _mellotron_unavailable(config):
    from backend.engines.tts_mellotron_zh import missing_files

    return (_model_dir_unavailable(config, "MELLOTRON_MODEL_DIR", missing_files, " (make mellotron)")
            or _package("torch") or _package("safetensors") or _espeak_unavailable(config))


def _espeak_unavailable(config):
    return None if shutil.which("espeak-ng") else "espeak-ng is not installed"


def _funasr_unavailable(config):
    from backend.engines.asr_funasr import missing_files

    cpu = config.get("ASR_DEVICE", "cpu") == "cpu"
    return (_model_dir_unavailable(config, "ASR_MODEL_DIR", missing_files, " (models/README.md, speech recognition)")
            or _package("funasr") or _package("torch") or (None if cpu else _cuda_device()))


def _mediapipe_unavailable(config):
    return _package("mediapipe")


# family -> engine name -> spec (the order of preference is the lineup's)
SPECS = {
    "tts": {
        "cosyvoice3": EngineSpec("backend.engines.tts_cosyvoice3:CosyVoice3TTS", _cosyvoice3_unavailable),
        "mellotron-zh": EngineSpec("backend.engines.tts_mellotron_zh:MellotronZhTTS", _mellotron_unavailable),
        "espeak-world": EngineSpec("backend.engines.tts_espeak_world:EspeakWorldTTS", _espeak_unavailable),
    },
    "sticker": {
        "sd-lora": EngineSpec("backend.engines.sticker_sd_lora:SdLoraStickerEngine", _sd_lora_unavailable),
        "classic": EngineSpec("backend.engines.sticker_classic:ClassicStickerEngine", _mediapipe_unavailable),
    },
    "asr": {
        "funasr": EngineSpec("backend.engines.asr_funasr:FunAsrRecognizer", _funasr_unavailable),
    },
}

_loaded = {}
_lock = threading.Lock()


def wanted(config):
    """{family: engine name or "auto"} from VOXMOJI_WORKER_ENGINES (`auto`, or e.g.
    `tts:cosyvoice3,sticker:sd-lora`; a family left out is not served by this worker)."""
    text = (config.get("WORKER_ENGINES") or "auto").replace(" ", "")
    if text == "auto":
        return {family: "auto" for family in lineup.FAMILIES}
    chosen = {}
    for item in filter(None, text.split(",")):
        family, _, name = item.partition(":")
        if family not in lineup.FAMILIES:
            raise ValueError(f"VOXMOJI_WORKER_ENGINES: {family!r} is not an engine family; use "
                             f"{list(lineup.FAMILIES)}, e.g. tts:cosyvoice3,sticker:auto")
        if name != "auto":
            lineup.get(family, name or "?")  # ValueError naming the choices
        chosen[family] = name
    return chosen


def unavailable_reasons(family, config):
    """{engine name: why it cannot run on this machine} for the family's engines that cannot."""
    reasons = {}
    for engine in lineup.ENGINES[family]:
        reason = SPECS[family][engine.name].unavailable(config)
        if reason:
            reasons[engine.name] = reason
    return reasons


def resolve(config):
    """`({family: engine name}, {family: {engine: reason it cannot run}})` for this worker. A pinned engine
    that cannot run here is a ValueError (the worker stops with it); `auto` takes the best that can."""
    chosen, reasons = {}, {}
    for family, name in wanted(config).items():
        reasons[family] = unavailable_reasons(family, config)
        if name == "auto":
            runnable = [e.name for e in lineup.ENGINES[family]
                        if e.name not in reasons[family] and not e.opt_in]
            if not runnable and lineup.embedded(family) is None:
                continue  # an optional family (speech recognition): this worker does without it
            if not runnable:
                raise ValueError(f"no {family} engine can run here: {reasons[family]}; run `make install`")
            chosen[family] = runnable[0]
        elif name in reasons[family]:
            raise ValueError(f"VOXMOJI_WORKER_ENGINES={family}:{name} cannot run here: {reasons[family][name]}")
        else:
            chosen[family] = name
    return chosen, reasons


def build(family, name, config):
    """A new instance of an engine (workers call `load`; tests and benchmarks may build one directly)."""
    module, _, cls = SPECS[family][name].target.partition(":")
    return getattr(importlib.import_module(module), cls).from_config(config)


def load(family, name, config):
    """The process's instance of an engine, created once (one model per worker process)."""
    with _lock:
        if (family, name) not in _loaded:
            _loaded[(family, name)] = build(family, name, config)
        return _loaded[(family, name)]


def loaded():
    """The engine instances this process has created."""
    with _lock:
        return list(_loaded.values())


def device(family, name, config):
    """Where an engine computes on this machine (advertised in the heartbeat)."""
    setting = {"cosyvoice3": ("COSYVOICE_DEVICE", "cuda"), "sd-lora": ("SD_DEVICE", "cuda"),
               "funasr": ("ASR_DEVICE", "cpu")}.get(name)
    return config.get(*setting) if setting else "cpu"  # the embedded and CPU-neural engines
