"""Celery entry point (`celery -A backend.worker worker`): engines pre-warmed, liveness advertised."""
import json
import logging
import os
import socket
import threading

import redis as redis_lib

from celery.signals import worker_process_init, worker_ready, worker_shutdown

from backend import create_app
from backend.celery_app import QUEUE_BY_KIND, QUEUES, WORKER_KEY
from backend.engines import registry
from backend.tasks import FORGET_CHANNEL, forget_locally

flask_app = create_app()
celery = flask_app.extensions["celery"]
logger = logging.getLogger("voxmoji.worker")
_stop = threading.Event()
HEARTBEAT_SECONDS = 5


def served_kinds():
    """The job kinds whose queues this worker consumes (VOXMOJI_WORKER_QUEUES, set by the stack)."""
    queues = set(os.environ.get("VOXMOJI_WORKER_QUEUES", ",".join(QUEUES)).split(","))
    return [kind for kind in flask_app.extensions["engines"] if QUEUE_BY_KIND[kind] in queues]


def check_engines():
    """Stop the worker with a clear message when a configured engine cannot run; log what `auto` chose."""
    for kind in served_kinds():
        problem = registry.check_configured(kind, flask_app.config)
        if problem:
            raise SystemExit(f"voxmoji worker: {problem}")
        chosen, skipped = registry.explain(kind, flask_app.config)
        logger.warning("%s engine: %s%s", kind, chosen,
                       "".join(f"; not {name}: {reason}" for name, reason in skipped.items()))


check_engines()


@worker_process_init.connect
def _load_engines(**_):
    """One engine instance per pool process, created (and warmed up) before the first job arrives."""
    with flask_app.app_context():
        for kind in served_kinds():
            registry.load(kind, flask_app.config)
    threading.Thread(target=_listen_for_forgotten_recordings, daemon=True, name="voxmoji-forget").start()


def _listen_for_forgotten_recordings():
    """Deleted voices: this process's engines drop what they derived from the recording (tasks.forget_recording)."""
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
def _advertise(sender, **_):
    """Keep `vm:worker:<hostname>` alive in Redis while this worker runs (read by /readyz)."""
    queues = sorted(q.name for q in sender.task_consumer.queues) if sender.task_consumer else []
    engines = {kind: name for kind, (name, _version) in flask_app.extensions["engines"].items()
               if QUEUE_BY_KIND[kind] in queues}
    skipped = {kind: registry.explain(kind, flask_app.config)[1] for kind in engines}
    key = WORKER_KEY + sender.hostname
    info = json.dumps({"hostname": sender.hostname, "host": socket.gethostname(), "pid": os.getpid(),
                       "queues": queues, "engines": engines, "engines_not_chosen": skipped})
    redis = flask_app.extensions["redis"]

    def beat():
        while True:
            try:
                redis.set(key, info, ex=HEARTBEAT_SECONDS * 3)
            except Exception:  # noqa: BLE001 - retried on the next beat
                pass
            if _stop.wait(HEARTBEAT_SECONDS):
                break

    _heartbeat.update(key=key, thread=threading.Thread(target=beat, daemon=True, name="voxmoji-heartbeat"))
    _heartbeat["thread"].start()


_heartbeat = {}


@worker_shutdown.connect
def _stop_advertising(**_):
    """A worker that stops leaves the fleet at once (not when its heartbeat expires): /readyz and the
    live-worker metric stop counting it."""
    _stop.set()
    if not _heartbeat:
        return
    _heartbeat["thread"].join(timeout=5)
    try:
        flask_app.extensions["redis"].delete(_heartbeat["key"])
    except Exception:  # noqa: BLE001 - it expires on its own
        pass
