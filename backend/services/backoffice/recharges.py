"""Batch recharges: each line atomic and applied once per batch, Stripe-style idempotency, an audit record."""
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend.errors import ApiError
from backend.extensions import db, get_redis
from backend.models import AuditRecord, IdempotencyRecord, User, new_id, utcnow
from backend.schemas import ID_MAX
from backend.services.jobs import ledger
from backend.transactions import write_transaction

TAKEOVER_AFTER = timedelta(seconds=60)  # an in-flight key whose request died may be resumed after this
REPEAT_WINDOW = timedelta(minutes=10)  # the console asks before applying the same lines again within this
_REPEAT = "vm-recharge-lines:"


@dataclass
class Line:
    """One requested credit: a user (openid or user id) and an amount (validated when applied)."""

    user: str
    amount: object


@dataclass
class Batch:
    lines: list
    reason: str


def parse(body):
    """Both request shapes of API.md; a malformed body is 400, a bad line is reported per line later."""
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
        raise ApiError("invalid_request", "reason is required (1-500 characters): it goes into the audit log.",
                       "reason")
    if "items" in body:
        items = body["items"]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ApiError("invalid_request", "items must be a list of {user, amount}.", "items")
        for index, item in enumerate(items):
            if set(item) != {"user", "amount"} or not _is_user_name(item["user"]):
                raise ApiError("invalid_request", f"items[{index}] must be exactly {{user, amount}}, user an openid or "
                               f"user id of 1-{ID_MAX} characters; it has keys {sorted(item)}.", "items", status=422)
        lines = [Line(item["user"], item["amount"]) for item in items]
    elif "users" in body:
        users = body["users"]
        if not isinstance(users, list) or not all(_is_user_name(user) for user in users):
            raise ApiError("invalid_request", f"users must be a list of openids or user ids (1-{ID_MAX} characters).",
                           "users", status=422)
        lines = [Line(user, body.get("amount")) for user in users]
    else:
        raise ApiError("invalid_request", "Send items: [{user, amount}] or users: [...] with amount.", "items")
    limit = current_app.config["RECHARGE_MAX_LINES"]
    if not lines or len(lines) > limit:
        raise ApiError("invalid_request", f"A batch has 1 to {limit} lines; this one has {len(lines)}.", "items")
    return Batch(lines, reason.strip())


def _is_user_name(value):
    return isinstance(value, str) and 1 <= len(value) <= ID_MAX


def request_hash(body):
    """Fingerprint of the request body (key order and whitespace do not matter)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()


def claim(api_key_id, key, fingerprint):
    """Start (or resume) the request for an Idempotency-Key. Returns (record, finished_response_or_None)."""
    if not key or len(key) > 255:
        raise ApiError("invalid_request", "The Idempotency-Key header is required (1-255 characters); reuse it "
                       "when you retry the same batch.", "Idempotency-Key")
    try:
        with write_transaction():
            record = IdempotencyRecord(api_key_id=api_key_id, key=key, request_hash=fingerprint,
                                       batch_id=new_id("b"), state="in_flight")
            db.session.add(record)
        return record, None
    except IntegrityError:
        pass
    record = db.session.get(IdempotencyRecord, (api_key_id, key))
    if record.request_hash != fingerprint:
        raise ApiError("idempotency_conflict", "This Idempotency-Key was used with a different body; use a new key "
                       "for a different batch.", "Idempotency-Key")
    if record.state == "done":
        return record, (record.response_status, record.response_body)
    with write_transaction():  # resume only a request that has been silent for a while (its process died)
        resumed = db.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.api_key_id == api_key_id, IdempotencyRecord.key == key,
                   IdempotencyRecord.state == "in_flight", IdempotencyRecord.locked_at < utcnow() - TAKEOVER_AFTER)
            .values(locked_at=utcnow())
        ).rowcount
    if not resumed:
        raise ApiError("idempotency_in_progress", "A request with this Idempotency-Key is still being processed; "
                       "retry in a few seconds to get its result.", "Idempotency-Key",
                       headers={"Retry-After": "2"})
    db.session.refresh(record)
    return record, None


def finish(record, status, body_bytes):
    """Store the exact response for replays."""
    with write_transaction():
        db.session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.api_key_id == record.api_key_id, IdempotencyRecord.key == record.key)
            .values(state="done", response_status=status, response_body=body_bytes)
        )


def _lines_key(batch):
    lines = sorted([line.user, str(line.amount)] for line in batch.lines)
    return _REPEAT + hashlib.sha256(json.dumps(lines, ensure_ascii=False).encode()).hexdigest()


def recent_same_lines(batch):
    """The batch that applied the same lines (in any order) within REPEAT_WINDOW, as remembered:
    {batch_id, form_key, actor, at}; or None."""
    value = get_redis().get(_lines_key(batch))
    return json.loads(value) if value else None


def remember_lines(batch, batch_id, form_key, actor):
    """Note that these lines were applied now (by a form, which may replay its own result)."""
    get_redis().set(_lines_key(batch), json.dumps({"batch_id": batch_id, "form_key": form_key, "actor": actor,
                                                   "at": time.time()}), ex=int(REPEAT_WINDOW.total_seconds()))


def apply(batch, batch_id, actor, idempotency_key=None):
    """Credit each line in its own transaction; one bad line never undoes the others."""
    config = current_app.config
    wanted = {line.user for line in batch.lines}
    found = db.session.scalars(sa.select(User).where(sa.or_(User.id.in_(wanted), User.openid.in_(wanted)))).all()
    by_name = {**{u.openid: u for u in found}, **{u.id: u for u in found}}
    succeeded, failed, audit, seen = [], [], [], set()
    for line in batch.lines:
        user = by_name.get(line.user)
        amount = line.amount
        problem = None
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= config["RECHARGE_MAX_AMOUNT"]:
            problem = f"amount out of range (an integer from 1 to {config['RECHARGE_MAX_AMOUNT']})"
        elif user is None:
            problem = "unknown user"
        elif user.blocked:
            problem = "blocked user"
        elif user.id in seen:
            problem = "duplicate line: this user is already in the batch"
        if problem:
            failed.append({"user": line.user, "reason": problem})
            audit.append({"user": line.user, "amount": amount, "status": "failed", "reason": problem})
            continue
        seen.add(user.id)
        try:
            with write_transaction():
                entry = ledger.credit(user.id, amount, "recharge", batch_id=batch_id, note=batch.reason[:200])
            after = entry.balance_after
            before = after - amount
        except IntegrityError:  # a resumed batch: this line was applied before the first attempt died
            after = db.session.scalar(sa.select(User.balance).where(User.id == user.id))
            before = None
        succeeded.append({"user": line.user, "balance": after})
        audit.append({"user": line.user, "user_id": user.id, "amount": amount, "status": "applied",
                      "balance_before": before, "balance_after": after})
    with write_transaction():
        db.session.add(AuditRecord(actor=actor, action="recharge", idempotency_key=idempotency_key, batch_id=batch_id,
                                   reason=batch.reason, details={"lines": audit}))
    return {"success": True, "batch_id": batch_id, "succeeded": succeeded, "failed_users": failed}


def forget_old_idempotency_keys():
    """Delete finished idempotency records older than IDEMPOTENCY_TTL (at least 24 h)."""
    ttl = max(24 * 3600, current_app.config["IDEMPOTENCY_TTL"])
    with write_transaction():
        return db.session.execute(
            sa.delete(IdempotencyRecord).where(IdempotencyRecord.state == "done",
                                               IdempotencyRecord.created_at < utcnow() - timedelta(seconds=ttl))
        ).rowcount
