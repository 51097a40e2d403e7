"""SQL tables: users, jobs (the source of truth for every request) and saved voices."""
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db

UNFINISHED = ("queued", "running")
FINISHED = ("succeeded", "failed", "canceled")


def utcnow():
    """Naive UTC now; every timestamp in the database is UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id(prefix):
    """An unguessable public id such as `t_3f9c…`."""
    return f"{prefix}_{secrets.token_hex(12)}"


def isoformat(moment):
    """`2026-11-21T12:00:00Z`, or None."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


class User(db.Model):
    """A mini-program user, keyed by WeChat openid."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: new_id("u"))
    openid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    balance: Mapped[int] = mapped_column(sa.Integer, default=0)
    held: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class Voice(db.Model):
    """A saved reference recording, normalized and stored content-addressed under media."""

    __tablename__ = "voices"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: new_id("v"))
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    prompt_text: Mapped[str | None] = mapped_column(sa.String(500))
    audio_sha256: Mapped[str] = mapped_column(sa.String(64))
    duration: Mapped[float] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class Job(db.Model):
    """One request: its parameters, its state machine and, when done, its result file."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: new_id("t"))
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="queued")
    progress: Mapped[int] = mapped_column(sa.Integer, default=0)
    engine: Mapped[str] = mapped_column(sa.String(32))
    cached: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    cost: Mapped[int] = mapped_column(sa.Integer, default=0)
    params: Mapped[dict] = mapped_column(sa.JSON)
    cache_key: Mapped[str] = mapped_column(sa.String(64), index=True)
    # A job that joined an identical job in flight follows it and shares its result.
    parent_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    result_path: Mapped[str | None] = mapped_column(sa.String(255))
    result_mime: Mapped[str | None] = mapped_column(sa.String(64))
    result_bytes: Mapped[int | None] = mapped_column(sa.Integer)
    result_duration: Mapped[float | None] = mapped_column(sa.Float)
    result_width: Mapped[int | None] = mapped_column(sa.Integer)
    result_height: Mapped[int | None] = mapped_column(sa.Integer)
    result_meta: Mapped[dict | None] = mapped_column(sa.JSON)
    error_code: Mapped[str | None] = mapped_column(sa.String(32))
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    error_field: Mapped[str | None] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    worker: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    started_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime)

    __table_args__ = (
        # At most one computing job per request fingerprint: identical requests join it.
        sa.Index(
            "uq_jobs_inflight_cache_key",
            "cache_key",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running') AND parent_id IS NULL"),
            postgresql_where=sa.text("status IN ('queued', 'running') AND parent_id IS NULL"),
        ),
        sa.Index("ix_jobs_user_created", "user_id", "created_at"),
    )

    @property
    def finished(self):
        return self.status in FINISHED
