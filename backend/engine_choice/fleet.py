"""The live fleet: which workers run, where, and which engines they serve; the engine each request runs on.

Every worker keeps a heartbeat in Redis (`vm:worker:<celery hostname>`, a few seconds' TTL) with its
host, queues and, per engine family, the engine it serves (name, version, tier, device, concurrency),
plus why each other engine could not run there. The web tier reads these heartbeats to route a request
to an engine's queue; it never imports an engine or looks at its own hardware.
"""
import json
import threading
import time

from flask import current_app

from backend.engine_choice import lineup
from backend.engine_choice.lineup import EMBEDDED, FAMILY_BY_KIND, GPU
from backend.errors import ApiError
from backend.extensions import get_redis

WORKER_KEY = "vm:worker:"
SEEN_KEY = "vm:engine-seen:"  # <family>.<engine> -> when a worker last advertised it (unix time)
HEARTBEAT_SECONDS = 5
_SNAPSHOT_SECONDS = 1.0  # how long a web process reuses what it read of the fleet

_snapshot = {"at": -1e9, "workers": []}
_snapshot_lock = threading.Lock()


def read_workers(redis):
    """Every live worker's heartbeat (a dict), read from Redis now."""
    workers = []
    for key in redis.scan_iter(match=WORKER_KEY + "*", count=100):
        raw = redis.get(key)
        if raw:
            workers.append(json.loads(raw))
    return workers


def live_workers():
    """The live workers' heartbeats, re-read from Redis at most once a second per process."""
    now = time.monotonic()
    with _snapshot_lock:
        if now - _snapshot["at"] > _SNAPSHOT_SECONDS:
            try:
                _snapshot["workers"] = read_workers(get_redis())
            except Exception:  # noqa: BLE001 - without Redis nothing can be queued anyway
                _snapshot["workers"] = []
            _snapshot["at"] = now
        return _snapshot["workers"]


def forget_snapshot():
    """Read the fleet afresh on the next request (tests, after starting or stopping a worker)."""
    with _snapshot_lock:
        _snapshot["at"] = -1e9


def live_engines(family, workers=None):
    """{engine name: advertised version} of the engines of `family` some live worker serves."""
    found = {}
    for worker in live_workers() if workers is None else workers:
        served = worker.get("engines", {}).get(family)
        if served:
            found[served["name"]] = max(found.get(served["name"], ""), served["version"])
    return found


def policy(family):
    """The routing policy of a family (VOXMOJI_ENGINE_POLICY_TTS / _STICKER; speech recognition has one engine:
    `best`)."""
    return current_app.config.get(f"ENGINE_POLICY_{family.upper()}", "best")


def recognizer(workers=None):
    """The speech-recognition engine (name) some live worker serves, or None."""
    live = live_engines("asr", workers)
    return next((engine.name for engine in lineup.ENGINES["asr"] if engine.name in live), None)


def choose(kind, require=None, workers=None):
    """`(engine name, version)` a new job of `kind` runs on, from the live fleet and the family's policy:

    - `best`: the best engine some live worker serves; the embedded engine when none is alive (the job
      waits for a worker, as any queued job does);
    - `gpu`: the GPU engine; 503 engine_unavailable while no worker serves it;
    - `embedded`: the embedded engine, whatever else runs.
    `require` names an engine the request cannot do without (`style: "sd"` needs sd-lora): 503 while no
    live worker serves it, or when the policy rules it out. `workers`: heartbeats already read."""
    family = FAMILY_BY_KIND.get(kind, kind)
    rule = policy(family)
    live = live_engines(family, workers)
    if require is not None:
        engine = lineup.get(family, require)
        if rule == EMBEDDED and engine.tier != EMBEDDED:
            raise unavailable(f"{require} is turned off on this server (VOXMOJI_ENGINE_POLICY_{family.upper()}="
                              f"embedded).")
        if require not in live:
            raise unavailable(f"No worker serving {require} is running right now.")
        return require, live[require]
    candidates = lineup.ENGINES[family]
    if rule == GPU:
        gpu = [engine for engine in candidates if engine.tier == GPU and engine.name in live]
        if not gpu:
            raise unavailable(f"No GPU worker for {family} is running right now (policy gpu).")
        return gpu[0].name, live[gpu[0].name]
    if rule == "best":
        for engine in candidates:
            if engine.name in live:
                return engine.name, live[engine.name]
    fallback = lineup.embedded(family)
    if fallback is None:
        raise unavailable(f"No worker for {family} is running right now.")
    return fallback.name, live.get(fallback.name, fallback.version)


def unavailable(reason):
    """503 engine_unavailable with a Retry-After, for a request no live worker can serve."""
    retry = current_app.config["ENGINE_RETRY_AFTER"]
    return ApiError("engine_unavailable", f"{reason} Please retry in a minute.", status=503,
                    headers={"Retry-After": str(retry)})


def mark_seen(redis, workers_engines, now=None):
    """A worker's heartbeat: record that its engines were alive now (read by `vanished_since`)."""
    now = time.time() if now is None else now
    for family, served in workers_engines.items():
        redis.set(f"{SEEN_KEY}{family}.{served['name']}", now, ex=7 * 24 * 3600)


def vanished_since(family, engine, workers):
    """None while some live worker serves the engine; else when it was last seen (0.0: never)."""
    if engine in live_engines(family, workers):
        return None
    seen = get_redis().get(f"{SEEN_KEY}{family}.{engine}")
    return float(seen) if seen else 0.0
