"""SQL tables: users, jobs (the source of truth for every request) and saved voices."""
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from backend.extensions import db
from backend.vocabulary import LEDGER_KINDS

UNFINISHED = ("queued", "running")
# deleted: the result was deleted with the voice that made it (DELETE /api/v1/voices/{id});
# blocked: withdrawn by media moderation (services/backoffice/media_moderation.py)
FINISHED = ("succeeded", "failed", "canceled", "deleted", "blocked")
# Computed, its result stored but not handed out until media moderation passes it (VOXMOJI_MODERATION=pre);
# neither computing (the sweeper leaves it alone) nor finished (its hold is still held).
REVIEWING = "reviewing"


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
    """A mini-program user, keyed by WeChat openid. balance and held change only with a ledger row."""

    __tablename__ = "users"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: new_id("u"))
    openid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    balance: Mapped[int] = mapped_column(sa.Integer, default=0)
    held: Mapped[int] = mapped_column(sa.Integer, default=0)
    blocked: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("held >= 0", name="ck_users_held_nonnegative"),
        sa.CheckConstraint("balance - held >= 0", name="ck_users_available_nonnegative"),
    )


class RefreshToken(db.Model):
    """A long-lived, single-use token that gets a new short-lived access token; only its SHA-256 is stored."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(sa.DateTime)
    used_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class GrantedIdentity(db.Model):
    """A WeChat identity (openid or unionid) that has had the signup grant, as a keyed hash only (HMAC-SHA256
    under the app's secret: it cannot be turned back into the id). It stays when the account is erased, so that
    erasing and logging in again does not grant a second time; nothing links it to an account."""

    __tablename__ = "granted_identities"
    identity_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class LedgerEntry(db.Model):
    """Append-only record of every change to a user's balance (delta) or holds (held_delta)."""

    __tablename__ = "ledger_entries"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    delta: Mapped[int] = mapped_column(sa.Integer)
    held_delta: Mapped[int] = mapped_column(sa.Integer, default=0)
    balance_after: Mapped[int] = mapped_column(sa.Integer)
    held_after: Mapped[int] = mapped_column(sa.Integer)
    job_id: Mapped[str | None] = mapped_column(sa.String(32))
    batch_id: Mapped[str | None] = mapped_column(sa.String(64))
    note: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)

    __table_args__ = (
        # A job is held, captured and released at most once each; a batch credits a user once.
        sa.Index("uq_ledger_job_kind", "job_id", "kind", unique=True,
                 sqlite_where=sa.text("job_id IS NOT NULL"), postgresql_where=sa.text("job_id IS NOT NULL")),
        sa.Index("uq_ledger_user_batch", "user_id", "batch_id", unique=True,
                 sqlite_where=sa.text("batch_id IS NOT NULL"), postgresql_where=sa.text("batch_id IS NOT NULL")),
        sa.Index("ix_ledger_user_id", "user_id", "id"),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(kind) for kind in LEDGER_KINDS)})", name="ck_ledger_kind"),
    )


class ApiKey(db.Model):
    """An operator's key: for the admin API (scope `recharge`), or speaking for one account on the
    OpenAI-compatible /v1/audio/speech (scope `speech`, `user_id` the account it bills). Only its SHA-256 is
    stored."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(64), default="recharge")
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"), index=True)


class IdempotencyRecord(db.Model):
    """A request made with an Idempotency-Key, and (once done) the exact response it got."""

    __tablename__ = "idempotency_keys"
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_keys.id"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    batch_id: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default="in_flight")  # in_flight | done
    response_status: Mapped[int | None] = mapped_column(sa.Integer)
    response_body: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow, index=True)
    locked_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class AuditRecord(db.Model):
    """Append-only: who changed money, why, and each line's balance before and after."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255))
    batch_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    reason: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict] = mapped_column(sa.JSON)
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
    # the speaker's consent: the sentence they read (the recording is of it) and when
    consent_text: Mapped[str | None] = mapped_column(sa.String(200))
    consent_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    # the consent token's id: one voice per token (unique)
    consent_token_id: Mapped[str | None] = mapped_column(sa.String(32), unique=True)
    # whether the recording says the sentence: verified (by `consent_check`: asr | moderator), reviewing (waits
    # for a moderator; not usable yet) or unverified (a local stack's VOXMOJI_CONSENT_CHECK=none)
    consent_status: Mapped[str] = mapped_column(sa.String(16), default="unverified", server_default="unverified")
    consent_check: Mapped[str | None] = mapped_column(sa.String(16))
    consent_transcript: Mapped[str | None] = mapped_column(sa.String(200))
    consent_error_rate: Mapped[float | None] = mapped_column(sa.Float)
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
    # none -> held -> captured | released, and captured -> refunded (a result moderation withdrew): the job's
    # charge moves once each way, guarded by conditional updates.
    charge: Mapped[str] = mapped_column(sa.String(16), default="none", server_default="none")
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

    # Not stored: set on the task handed back to a user who repeats a request of theirs that succeeded
    # (shown as `cached: true`, cost 0; nothing is written for such a repeat).
    repeat = False

    @property
    def finished(self):
        return self.status in FINISHED


class ModerationWord(db.Model):
    """One entry of the operator's word list, matched on its normalised form (services/backoffice/moderation.py)."""

    __tablename__ = "moderation_words"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    word: Mapped[str] = mapped_column(sa.String(100))
    normalized: Mapped[str] = mapped_column(sa.String(100), unique=True)
    label: Mapped[str] = mapped_column(sa.String(32))
    action: Mapped[str] = mapped_column(sa.String(16))  # risky | review
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class ReviewItem(db.Model):
    """Something for a moderator to look at: text flagged by moderation (and, later, media verdicts and
    users' reports)."""

    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # flag | report
    source: Mapped[str] = mapped_column(sa.String(16))  # wordlist | wechat | user
    label: Mapped[str] = mapped_column(sa.String(32))
    field: Mapped[str | None] = mapped_column(sa.String(32))
    text: Mapped[str | None] = mapped_column(sa.String(500))
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    job_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    voice_id: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)  # open | approved | rejected
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)


class MediaCheck(db.Model):
    """One media file (an upload or a result, by its content-addressed path) submitted to WeChat's
    mediaCheckAsync; the verdict arrives by message push and applies to every job or voice linked to it."""

    __tablename__ = "media_checks"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    path: Mapped[str] = mapped_column(sa.String(255), unique=True)
    media_type: Mapped[str] = mapped_column(sa.String(8))  # image | audio
    openid: Mapped[str] = mapped_column(sa.String(64))  # whose request it came with (WeChat asks for one)
    trace_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="new", index=True)
    label: Mapped[str | None] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(sa.DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(sa.DateTime)


class MediaCheckSubject(db.Model):
    """A job (`t_…`) or saved voice (`v_…`) that uses or made a checked file."""

    __tablename__ = "media_check_subjects"
    check_id: Mapped[int] = mapped_column(sa.ForeignKey("media_checks.id", ondelete="CASCADE"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, index=True)


class Operator(db.Model):
    """A person who runs the service in the console (/admin/): password (argon2) + TOTP, one role."""

    __tablename__ = "operators"
    ROLES = ("admin", "moderator", "finance")
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    totp_secret: Mapped[str] = mapped_column(sa.String(64))
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # a code is accepted once
    role: Mapped[str] = mapped_column(sa.String(16))
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(sa.DateTime)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(sa.DateTime)


class StickerTemplate(db.Model):
    """A meme template an operator uploaded in the console (the built-in ones are backend/builtin_templates.py)."""

    __tablename__ = "sticker_templates"
    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=lambda: new_id("tpl")[:20])
    name: Mapped[str] = mapped_column(sa.String(32))
    tags: Mapped[list] = mapped_column(sa.JSON, default=list)
    image_path: Mapped[str] = mapped_column(sa.String(255))
    landmarks: Mapped[list | None] = mapped_column(sa.JSON)  # 468 (x, y) on the 512 x 512 image
    status: Mapped[str] = mapped_column(sa.String(16), default="detecting")  # detecting | ready | no_face
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_by: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(sa.DateTime, default=utcnow)
