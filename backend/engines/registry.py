"""Which engine serves each kind: `auto` picks the GPU engine when it can run, else the embedded one."""
import importlib
import threading

# kind -> engines in order of preference for `auto`; values are "module:Class".
ENGINES = {
    "tts": {
        "espeak-world": "backend.engines.tts_espeak_world:EspeakWorldTTS",
    },
}

_loaded = {}
_lock = threading.Lock()


def engine_class(name):
    """Import and return an engine class by its registered name."""
    for engines in ENGINES.values():
        if name in engines:
            module, _, cls = engines[name].partition(":")
            return getattr(importlib.import_module(module), cls)
    raise ValueError(f"unknown engine {name!r}; known: {sorted(n for e in ENGINES.values() for n in e)}")


def resolve(kind, config):
    """The engine name configuration selects for `kind` (checking, not loading, the engine)."""
    wanted = config.get(f"{kind.upper()}_ENGINE", "auto")
    if wanted != "auto":
        if wanted not in ENGINES[kind]:
            raise ValueError(f"{kind.upper()}_ENGINE={wanted!r} is not a {kind} engine; use one of {list(ENGINES[kind])}")
        return wanted
    for name in ENGINES[kind]:
        if engine_class(name).is_available():
            return name
    raise RuntimeError(f"no {kind} engine can run here; install espeak-ng (make install)")


def describe(kind, config):
    """`(name, version)` of the engine that serves `kind`; part of every cache key."""
    name = resolve(kind, config)
    return name, engine_class(name).version


def load(kind, config):
    """The process's engine instance for `kind`, created once (one model per worker process)."""
    with _lock:
        if kind not in _loaded:
            name = resolve(kind, config)
            _loaded[kind] = engine_class(name).from_config(config)
        return _loaded[kind]
