"""Dashboard (charts of the last hour and day) and the audit log."""
from datetime import timedelta

import sqlalchemy as sa
from flask import render_template, request

from backend.celery_app import DEFAULT_QUEUE
from backend.console.access import page
from backend.console.blueprint import bp, job_kind
from backend.engine_choice.fleet import read_workers
from backend.engine_choice.lineup import QUEUES
from backend.errors import input_refused
from backend.extensions import db, get_redis
from backend.models import Job, LedgerEntry, MediaCheck, ReviewItem, utcnow
from backend.services.backoffice import audit

MINUTES = 60


@bp.get("/dashboard")
@page("dashboard")
def dashboard():
    now = utcnow()
    hour_ago, day_ago = now - timedelta(minutes=MINUTES), now - timedelta(days=1)
    rows = db.session.execute(sa.select(Job.kind, Job.engine, Job.status, Job.error_code, Job.created_at)
                              .where(Job.created_at >= hour_ago)).all()
    series = {}
    for kind, engine, _status, _code, created in rows:
        minute = MINUTES - 1 - int((now - created).total_seconds() // 60)
        series.setdefault(f"{job_kind(kind)} · {engine}", [0] * MINUTES)[max(0, min(MINUTES - 1, minute))] += 1
    # A job refused for its input (no face in the photo, unreadable audio) was served as it should be: it is
    # counted apart, not as a failure of the service.
    finished = [(status, code) for _k, _e, status, code, _c in rows if status in ("succeeded", "failed")]
    refused = sum(1 for status, code in finished if status == "failed" and input_refused(code))
    failed = sum(1 for status, _code in finished if status == "failed") - refused
    failure_rate = (failed / len(finished)) if finished else 0.0
    redis = get_redis()
    try:
        queues = {queue: redis.llen(queue) for queue in (DEFAULT_QUEUE, *QUEUES)}
        workers = read_workers(redis)
    except Exception:  # noqa: BLE001 - the dashboard still shows the database's figures
        queues, workers = {}, []
    tokens = dict(db.session.execute(sa.select(LedgerEntry.kind, sa.func.sum(LedgerEntry.delta)).where(
        LedgerEntry.created_at >= day_ago).group_by(LedgerEntry.kind)).all())
    checks = dict(db.session.execute(sa.select(MediaCheck.status, sa.func.count()).where(
        MediaCheck.created_at >= day_ago).group_by(MediaCheck.status)).all())
    flags = dict(db.session.execute(sa.select(ReviewItem.kind, sa.func.count()).where(
        ReviewItem.created_at >= day_ago).group_by(ReviewItem.kind)).all())
    return render_template(
        "console/dashboard.html", series=series, failure_rate=failure_rate, finished=len(finished), failed=failed,
        refused=refused, queues=queues,
        workers=workers, granted=(tokens.get("grant") or 0) + (tokens.get("recharge") or 0),
        spent=-(tokens.get("capture") or 0), refunded=tokens.get("adjust") or 0, checks=checks, flags=flags,
        minutes=MINUTES)


@bp.get("/audit")
@page("audit")
def audit_log():
    actor = request.args.get("actor", "").strip()[:128]
    action = request.args.get("action", "").strip()[:32]
    since = request.args.get("since", "").strip()[:10]
    entries = audit.search(actor or None, action or None, since or None)
    return render_template("console/audit.html", entries=entries, actions=audit.actions(), actor=actor,
                           action=action, since=since)
