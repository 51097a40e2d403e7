"""Celery bound to the Flask app: every task runs inside an app context."""
from urllib.parse import parse_qs, urlparse

from celery import Celery, Task
from kombu import Queue

from backend.engine_choice.lineup import QUEUES

# Each engine has its own queue (`tts.cosyvoice3`, `sticker.classic`, ...): a job is sent to the queue of the
# engine it was routed to (backend/engine_choice/fleet.py). `default` carries maintenance (the sweeper).
DEFAULT_QUEUE = "default"
# Task names: the web tier sends tasks by name, so services never import the worker side (backend.celery_tasks).
RUN_JOB = "voxmoji.run_job"
FORGET_RECORDING = "voxmoji.forget_recording"
SWEEP_JOBS = "voxmoji.sweep_jobs"
EXPIRE_MEDIA = "voxmoji.expire_media"
ERASE_USER = "voxmoji.erase_user"
CHECK_MEDIA = "voxmoji.check_media"
DETECT_TEMPLATE_FACE = "voxmoji.detect_template_face"
TRANSCRIBE_CONSENT = "voxmoji.transcribe_consent"


def send(task_name, *args, queue):
    """Send a task to a queue by name (from the web tier or a worker)."""
    from flask import current_app

    return current_app.extensions["celery"].send_task(task_name, args=args, queue=queue)


def broker_url(redis_url):
    """Kombu spells a unix-socket Redis URL `redis+socket://path?virtual_host=db`."""
    parsed = urlparse(redis_url)
    if parsed.scheme != "unix":
        return redis_url
    db = parse_qs(parsed.query).get("db", ["0"])[0]
    return f"redis+socket://{parsed.path}?virtual_host={db}"


def celery_init_app(app):
    """Create the Celery app from the Flask config and store it in app.extensions['celery']."""

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            with app.app_context():
                return self.run(*args, **kwargs)

    config = app.config
    hard = config["JOB_HARD_TIME_LIMIT"]
    celery = Celery(app.name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=broker_url(config["REDIS_URL"]),
        broker_connection_retry_on_startup=True,
        # Unacked messages come back after this long; it must exceed the hard limit or a
        # healthy long job would be delivered twice.
        broker_transport_options={"visibility_timeout": max(2 * hard, hard + 60)},
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Pool children load their engines (MediaPipe, models) before they report up; on a busy machine that
        # takes far longer than Celery's default 4 s, and a child that misses it is killed and replaced.
        worker_proc_alive_timeout=120,
        task_soft_time_limit=config["JOB_SOFT_TIME_LIMIT"],
        task_time_limit=hard,
        task_default_queue=DEFAULT_QUEUE,
        task_queues=[Queue(DEFAULT_QUEUE)] + [Queue(name) for name in QUEUES],
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        beat_schedule={
            "sweep-jobs": {"task": SWEEP_JOBS, "schedule": config["SWEEP_INTERVAL"], "options": {"queue": DEFAULT_QUEUE}},
            "expire-media": {"task": EXPIRE_MEDIA, "schedule": config["RETENTION_INTERVAL"],
                             "options": {"queue": DEFAULT_QUEUE}},
        },
        beat_schedule_filename=f"{config['VAR_DIR']}/celerybeat-schedule",
        timezone="UTC",
    )
    celery.set_default()
    app.extensions["celery"] = celery
    return celery
