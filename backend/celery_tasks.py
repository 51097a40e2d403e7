"""Celery tasks: run one job (at most once in effect), and sweep the jobs the database says are stuck."""
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from datetime import timedelta, timezone

import sqlalchemy as sa
from celery import shared_task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from flask import current_app

from backend import metrics
from backend.celery_app import (
    CHECK_MEDIA,
    DETECT_TEMPLATE_FACE,
    ERASE_USER,
    EXPIRE_MEDIA,
    FORGET_RECORDING,
    RUN_JOB,
    SWEEP_JOBS,
    TRANSCRIBE_CONSENT,
)
from backend.engine_choice import fleet
from backend.engine_choice.lineup import FAMILY_BY_KIND
from backend.errors import ApiError
from backend.extensions import db, get_redis
from backend.models import UNFINISHED, Job, utcnow
from backend.renders import pack, sticker, swap, talking, tts
from backend.services.backoffice import erasure, media_moderation, recharges
from backend.services.jobs import lifecycle, submission
from backend.services.media import files, templates
from backend.transactions import checkpoint

RENDERERS = {"tts": tts.render, "sticker": sticker.render, "swap": swap.render, "pack": pack.render,
             "talking": talking.render}
_LEASE = "vm:lease:"
_RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_EXTEND_IF_OWNER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"
)


class Lease:
    """A Redis key saying "a live worker holds this job", kept alive by a heartbeat thread."""

    def __init__(self, job_id, seconds):
        self.key = _LEASE + job_id
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.seconds = seconds
        self._stop = threading.Event()
        self._redis = get_redis()
        self._kept = False

    def acquire(self):
        if not self._redis.set(self.key, self.token, nx=True, ex=self.seconds):
            return False
        threading.Thread(target=self._beat, daemon=True).start()
        return True

    def _beat(self):
        while not self._stop.wait(self.seconds / 3):
            try:
                self._redis.eval(_EXTEND_IF_OWNER, 1, self.key, self.token, self.seconds)
            except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                pass

    def keep_until(self, seconds):
        """Leave the job held (no sweep takes it for lost) until just before its message comes back."""
        self._stop.set()
        self._kept = True
        try:
            self._redis.eval(_EXTEND_IF_OWNER, 1, self.key, self.token, max(int(seconds), 1))
        except Exception:  # noqa: BLE001 - then a sweep may send it once more, which is harmless
            pass

    def release(self):
        self._stop.set()
        if self._kept:
            return
        try:
            self._redis.eval(_RELEASE_IF_OWNER, 1, self.key, self.token)
        except Exception:  # noqa: BLE001 - it expires on its own
            pass


def is_held(job_id):
    """True when a live worker holds the job's lease."""
    return bool(get_redis().exists(_LEASE + job_id))


TWIN_STEP_SECONDS = 5.0  # a job handed a twin's result looks at the clock this often


def _worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


@shared_task(bind=True, name=RUN_JOB, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def run_job(self, job_id):
    """Run a job; a redelivered or duplicate message finds it finished or held and does nothing twice."""
    config = current_app.config
    job = db.session.get(Job, job_id)
    if job is None or job.finished or job.parent_id:
        return
    lease = Lease(job_id, config["JOB_LEASE_SECONDS"])
    if not lease.acquire():
        # Another process holds it, or a killed one did until its lease runs out: look again later.
        raise self.retry(countdown=config["JOB_LEASE_SECONDS"])
    try:
        if job.attempts >= config["JOB_MAX_ATTEMPTS"]:
            lifecycle.finish(job_id, "failed", error_code="engine_failed",
                        error_message=f"Gave up after {job.attempts} attempts that did not finish.")
            return
        existing = submission.finished_result(job.cache_key)
        if existing is not None:  # computed before (for anyone): this job gets that result, computed once
            result, took = existing
            if job.status == "queued" and not lifecycle.mark_running(job_id, _worker_name()):
                return
            db.session.refresh(job)
            remaining = took - (utcnow() - job.started_at).total_seconds()
            if remaining > TWIN_STEP_SECONDS / 10:
                # as slow as computing it was, so that when a task finishes says nothing about other users'
                # requests; the worker is free meanwhile (the message comes back), progress moves as usual
                lifecycle.set_progress(job_id, 5 + 90 * (1 - remaining / took))
                countdown = min(remaining, TWIN_STEP_SECONDS)
                lease.keep_until(countdown)
                raise self.retry(countdown=countdown)
            media_moderation.deliver(job, result)
            return
        if not lifecycle.mark_running(job_id, _worker_name()):
            return
        metrics.job_transition(job.kind, "running")
        db.session.refresh(job)
        result = RENDERERS[job.kind](job, progress=lambda fraction: lifecycle.set_progress(job_id, 5 + 90 * fraction))
        media_moderation.deliver(job, result)
    except Retry:
        raise  # a job handed a twin's result, coming back when its time is up
    except Exception as error:
        db.session.rollback()
        code, message, field = failure_of(error, job_id)
        lifecycle.finish(job_id, "failed", error_code=code, error_message=message, error_field=field)
    finally:
        lease.release()


def failure_of(error, job_id):
    """(code, message, field) a failed job records for the exception that ended it."""
    if isinstance(error, SoftTimeLimitExceeded):
        return "engine_failed", f"The engine took longer than {current_app.config['JOB_SOFT_TIME_LIMIT']} s.", None
    if isinstance(error, ApiError):
        return error.code, error.message, error.field
    if isinstance(error, ValueError):  # an engine's check_inputs
        return "invalid_request", str(error), None
    current_app.logger.error("job %s failed", job_id, exc_info=error)
    return "engine_failed", "The engine failed on this request; please retry.", None


FORGET_CHANNEL = "vm:forget-recording"


@shared_task(name=FORGET_RECORDING, acks_late=True)
def forget_recording(digest):
    """A voice was deleted: every TTS engine drops what it derived from the recording, here (memory and the
    shared disk caches) and, through a Redis broadcast, in every other worker process."""
    forget_locally(digest)
    get_redis().publish(FORGET_CHANNEL, digest)


def forget_locally(digest):
    """This process's engines forget a recording (those that keep anything about one)."""
    from backend.engine_choice import served

    for engine in served.loaded():
        forget = getattr(engine, "forget", None)
        if forget is not None:
            forget(digest)
            current_app.logger.warning("process %s: %s forgot recording %s", os.getpid(), engine.name, digest)


@shared_task(name=TRANSCRIBE_CONSENT, acks_late=True, ignore_result=True)
def transcribe_consent(path, reply, engine="funasr"):
    """A consent recording's transcript (a speech-recognition worker), pushed to the Redis list `reply` that the
    web request saving the voice waits on (services/intake/consent.py); gone within a minute if it left."""
    from backend.engine_choice import served

    recognizer = served.load("asr", engine, current_app.config)
    with tempfile.NamedTemporaryFile(suffix=".wav") as wav:
        wav.write(files.read(path))
        wav.flush()
        text = recognizer.transcribe(wav.name)
    redis = get_redis()
    redis.rpush(reply, json.dumps({"text": text}, ensure_ascii=False))
    redis.expire(reply, 60)


@shared_task(name=SWEEP_JOBS)
def sweep_jobs():
    """Re-enqueue unfinished jobs no worker holds, settle orphaned followers, clear partial files."""
    config = current_app.config
    now = utcnow()
    requeue_before = now - timedelta(seconds=config["JOB_REQUEUE_AFTER"])
    grace = now - timedelta(seconds=config["JOB_LEASE_SECONDS"] * 2)
    candidates = db.session.scalars(
        sa.select(Job).where(Job.status.in_(UNFINISHED), Job.parent_id.is_(None), Job.created_at < grace)
    ).all()
    requeued = 0
    workers = fleet.read_workers(get_redis())
    for job in candidates:
        if is_held(job.id):
            continue
        if engine_gone(job, workers):
            lifecycle.finish(job.id, "failed", error_code="engine_unavailable", error_message=(
                f"No worker running {job.engine} came back within {config['ENGINE_WAIT_SECONDS']} s; "
                "your tokens were returned. Please retry."))
            continue
        waiting_too_long = job.status == "queued" and (job.enqueued_at is None or job.enqueued_at < requeue_before)
        orphaned = job.status == "running"
        if waiting_too_long or orphaned:
            requeued += lifecycle.enqueue(job)
    followers = db.session.scalars(
        sa.select(Job.parent_id).where(Job.status.in_(UNFINISHED), Job.parent_id.is_not(None)).distinct()
    ).all()
    for leader_id in followers:
        lifecycle.resolve_followers(leader_id)
    expired = expire_holds()
    removed = files.remove_stale_partials(config["JOB_HARD_TIME_LIMIT"] * 2)
    forgotten = recharges.forget_old_idempotency_keys()
    checks = media_moderation.sweep() if current_app.config["WECHAT_APPID"] else None
    wal = checkpoint()
    return {"requeued": requeued, "holds_expired": expired, "partials_removed": removed,
            "idempotency_keys_removed": forgotten, "media_checks": checks, "wal_checkpoint": wal, "at": time.time()}


def engine_gone(job, workers):
    """True when no live worker has served the job's engine for VOXMOJI_ENGINE_WAIT_SECONDS (counted from
    when one was last seen, or from the job's creation if later)."""
    since = fleet.vanished_since(FAMILY_BY_KIND[job.kind], job.engine, workers)
    if since is None:
        return False
    created = job.created_at.replace(tzinfo=timezone.utc).timestamp()
    return time.time() - max(since, created) > current_app.config["ENGINE_WAIT_SECONDS"]


def expire_holds():
    """Fail jobs that have held tokens for more than twice the hard time limit; their tokens go back."""
    cutoff = utcnow() - timedelta(seconds=2 * current_app.config["JOB_HARD_TIME_LIMIT"])
    stuck = db.session.scalars(
        sa.select(Job.id).where(Job.charge == "held", Job.status.in_(UNFINISHED), Job.created_at < cutoff)
    ).all()
    for job_id in stuck:
        lifecycle.finish(job_id, "failed", error_code="engine_failed",
                    error_message="The job took too long and was stopped; its tokens were returned.")
    return len(stuck)


@shared_task(name=EXPIRE_MEDIA)
def expire_media():
    """Retention: delete what finished jobs made and were sent more than VOXMOJI_RETENTION_HOURS ago; finish
    any erasure whose task was lost."""
    finished = [erasure.erase_user(user_id) for user_id in erasure.pending_erasures()]
    return {**erasure.expire(), "erasures_finished": len(finished)}


@shared_task(bind=True, name=CHECK_MEDIA, acks_late=True, max_retries=6)
def check_media(self, check_id):
    """Submit a file to WeChat's mediaCheckAsync; WeChat unavailable is retried with backoff, then a person
    decides (the review queue)."""
    try:
        media_moderation.submit(check_id)
    except ApiError as error:
        if self.request.retries >= self.max_retries:
            media_moderation.give_up(check_id, "check_failed")
            return
        raise self.retry(countdown=min(300, 5 * 2 ** self.request.retries), exc=error)


@shared_task(name=DETECT_TEMPLATE_FACE, acks_late=True)
def detect_template_face(template_id):
    """A template uploaded in the console: its face found with the classic sticker engine's face finder."""
    from backend.engine_choice import served

    finder = served.load("sticker", "classic", current_app.config).analyzer
    return {"template_id": template_id, "faces": templates.detect_face(template_id, finder.faces)}


@shared_task(name=ERASE_USER, acks_late=True)
def erase_user(user_id):
    """`DELETE /api/v1/me`, done within minutes of the request (idempotent: a redelivery finds less to do)."""
    return erasure.erase_user(user_id)
