"""Celery entry point (`celery -A backend.worker worker`): this worker's engines resolved, loaded and advertised.

At import the worker resolves which engine it serves per family (VOXMOJI_WORKER_ENGINES; a pinned engine
that cannot run here stops it with the reason) and consumes exactly those engines' queues, plus `default`
for maintenance. Each pool process loads its engines before the first job. While it runs, the worker keeps
a heartbeat in Redis that the web tier routes by (backend/engine_choice/fleet.py).
"""
import json
import logging
import os
import socket
import threading
import time

import redis as redis_lib
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from kombu import Queue

from backend import create_app
from backend.celery_app import DEFAULT_QUEUE
from backend.celery_tasks import FORGET_CHANNEL, forget_locally
from backend.engine_choice import fleet, lineup, served

flask_app = create_app()
celery = flask_app.extensions["celery"]
logger = logging.getLogger("voxmoji.worker")
_stop = threading.Event()


def _resolve():
    try:
        return served.resolve(flask_app.config)
    except ValueError as error:
        raise SystemExit(f"voxmoji worker: {error}") from None


SERVED, UNAVAILABLE = _resolve()  # {family: engine name}, {family: {engine: why it cannot run here}}
for _family, _name in SERVED.items():
    logger.warning("%s engine: %s%s", _family, _name,
                   "".join(f"; not {name}: {why}" for name, why in UNAVAILABLE[_family].items()))
celery.conf.task_queues = [Queue(DEFAULT_QUEUE)] + [
    Queue(lineup.get(family, name).queue) for family, name in SERVED.items()]


@worker_process_init.connect
def _load_engines(**_):
    """One engine instance per pool process, created (and warmed up) before the first job arrives."""
    with flask_app.app_context():
        for family, name in SERVED.items():
            served.load(family, name, flask_app.config)
    threading.Thread(target=_listen_for_forgotten_recordings, daemon=True, name="voxmoji-forget").start()


def _listen_for_forgotten_recordings():
    """Deleted voices: this process's engines drop what they derived from the recording (celery_tasks.forget_recording)."""
    while not _stop.is_set():
        try:
            pubsub = redis_lib.Redis.from_url(flask_app.config["REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(FORGET_CHANNEL)
            for message in pubsub.listen():
                with flask_app.app_context():
                    forget_locally(message["data"].decode())
        except Exception:  # noqa: BLE001 - Redis restarted: subscribe again
            logger.warning("forget listener lost Redis; retrying", exc_info=True)
            _stop.wait(2)


@worker_ready.connect
def _load_engines_in_solo_pool(sender, **_):
    """GPU workers run `--pool=solo` (one model, no forked children): load the engines here instead."""
    if "prefork" not in type(sender.pool).__module__:
        _load_engines()


@worker_ready.connect
def _render_template_previews(**_):
    """Sticker workers draw the meme templates' previews into media storage (the web tier has no engines)."""
    if "sticker" in SERVED:
        from backend.engines import sticker_templates
        from backend.services.media import templates

        with flask_app.app_context():
            templates.render_builtin_previews(sticker_templates.image)


def heartbeat(hostname, concurrency):
    """What this worker advertises: host, queues, per family the engine it serves, and the reasons the
    other engines could not run on this machine."""
    config = flask_app.config
    return {
        "hostname": hostname, "host": socket.gethostname(), "pid": os.getpid(), "started_at": time.time(),
        "queues": sorted(queue.name for queue in celery.conf.task_queues),
        "engines": {family: {"name": name, "version": lineup.get(family, name).version,
                             "tier": lineup.get(family, name).tier,
                             "device": served.device(family, name, config), "concurrency": concurrency}
                    for family, name in SERVED.items()},
        "unavailable": UNAVAILABLE,
    }


@worker_ready.connect
def _advertise(sender, **_):
    """Keep `vm:worker:<hostname>` alive in Redis while this worker runs (the web tier routes by it)."""
    key = fleet.WORKER_KEY + sender.hostname
    info = heartbeat(sender.hostname, sender.pool.limit)  # processes (prefork) or 1 (solo)
    payload = json.dumps(info)
    redis = flask_app.extensions["redis"]

    def beat():
        while True:
            try:
                redis.set(key, payload, ex=fleet.HEARTBEAT_SECONDS * 3)
                fleet.mark_seen(redis, info["engines"])
            except Exception:  # noqa: BLE001 - retried on the next beat
                pass
            if _stop.wait(fleet.HEARTBEAT_SECONDS):
                break

    _heartbeat.update(key=key, thread=threading.Thread(target=beat, daemon=True, name="voxmoji-heartbeat"))
    _heartbeat["thread"].start()


_heartbeat = {}


@worker_shutdown.connect
def _stop_advertising(**_):
    """A worker that stops leaves the fleet at once (not when its heartbeat expires): requests stop being
    routed to its engines, and /readyz and the live-worker metric stop counting it."""
    _stop.set()
    if not _heartbeat:
        return
    _heartbeat["thread"].join(timeout=5)
    try:
        flask_app.extensions["redis"].delete(_heartbeat["key"])
    except Exception:  # noqa: BLE001 - it expires on its own
        pass
