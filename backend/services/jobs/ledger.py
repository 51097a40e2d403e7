"""The token ledger: every change of a user's balance or holds is one conditional UPDATE plus one ledger row.

Invariants (kept by the database, not by hope):
- users.balance = Σ ledger_entries.delta and users.held = Σ ledger_entries.held_delta;
- balance - held >= 0 and held >= 0 (CHECK constraints);
- a job is held, captured and released at most once each (unique (job_id, kind) and the
  job's `charge` column moving none -> held -> captured | released by conditional updates);
- a batch credits a user at most once (unique (user_id, batch_id)).
The callers own the transaction (services.transactions.write_transaction).
"""
import hashlib
import hmac
from datetime import date

import sqlalchemy as sa
from flask import current_app

from backend.errors import ApiError
from backend.extensions import db
from backend.models import GrantedIdentity, Job, LedgerEntry, User, isoformat
from backend.vocabulary import CREDIT_KINDS


def _move(user_id, kind, delta, held_delta, *, condition=None, job_id=None, batch_id=None, note=None):
    """Apply (delta, held_delta) to the user if `condition` holds; append the ledger row. None if refused."""
    statement = (
        sa.update(User)
        .where(User.id == user_id)
        .values(balance=User.balance + delta, held=User.held + held_delta)
        .returning(User.balance, User.held)
    )
    if condition is not None:
        statement = statement.where(condition)
    row = db.session.execute(statement).first()
    if row is None:
        return None
    entry = LedgerEntry(user_id=user_id, kind=kind, delta=delta, held_delta=held_delta, balance_after=row.balance,
                        held_after=row.held, job_id=job_id, batch_id=batch_id, note=note)
    db.session.add(entry)
    db.session.flush()
    return entry


def hold(user_id, job_id, cost):
    """Reserve `cost` tokens for a job (available -> held); 402 insufficient_tokens if they are not there."""
    if cost <= 0:
        return None
    entry = _move(user_id, "hold", 0, cost, condition=(User.balance - User.held >= cost), job_id=job_id)
    if entry is None:
        available = db.session.scalar(sa.select(User.balance - User.held).where(User.id == user_id)) or 0
        raise ApiError("insufficient_tokens", f"This costs {cost} token{'s' if cost != 1 else ''}; your available "
                       f"balance is {available}. Recharge to continue.")
    return entry


def balances(user_id):
    """`(balance, held)` of the account, read from the database (never from a copy of the account)."""
    row = db.session.execute(sa.select(User.balance, User.held).where(User.id == user_id)).first()
    return (row.balance, row.held) if row is not None else (0, 0)


def settle(job_id, outcome):
    """Capture (success) or release (failure, cancel, timeout) a job's hold, once."""
    new_state = "captured" if outcome == "capture" else "released"
    changed = db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.charge == "held").values(charge=new_state)
    ).rowcount
    if not changed:
        return None
    job = db.session.get(Job, job_id)
    if outcome == "capture":
        return _move(job.user_id, "capture", -job.cost, -job.cost, job_id=job_id)
    return _move(job.user_id, "release", 0, -job.cost, job_id=job_id)


def refund(job_id, note):
    """Give back what a succeeded job was charged (its result was withdrawn), once: charge captured ->
    refunded and an `adjust` row for the job (unique per job and kind)."""
    changed = db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.charge == "captured").values(charge="refunded")
    ).rowcount
    if not changed:
        return None
    job = db.session.get(Job, job_id)
    return _move(job.user_id, "adjust", job.cost, 0, job_id=job_id, note=note)


def paid(job):
    """What the user pays for a job, net: its cost while held or once captured, nothing once released
    (failed, canceled) or refunded (withdrawn)."""
    return job.cost if job.charge in ("held", "captured") else 0


def credit(user_id, amount, kind, batch_id=None, note=None):
    """Add tokens (grant, recharge, adjust); with a batch_id, at most once per user and batch."""
    if kind not in CREDIT_KINDS:
        raise ValueError(f"credit kind must be one of {CREDIT_KINDS}, got {kind!r}")
    return _move(user_id, kind, amount, 0, batch_id=batch_id, note=note)


def signup_grant(user_id, *identities):
    """The configured grant for a new user (in the transaction that creates the user), once per person: not when
    any of the user's WeChat identities (openid, unionid) had it before, e.g. under an account since erased."""
    amount = current_app.config["SIGNUP_GRANT"]
    if amount > 0 and remember_identities(*identities) == 0:
        credit(user_id, amount, "grant", batch_id="signup", note="signup grant")


def remember_identities(*identities):
    """Keep the keyed hashes of these WeChat identities as having had the signup grant (in the caller's
    transaction); returns how many of them were kept already."""
    hashes = {_identity_hash(identity) for identity in identities if identity}
    known = set(db.session.scalars(sa.select(GrantedIdentity.identity_hash)
                                   .where(GrantedIdentity.identity_hash.in_(hashes))))
    db.session.add_all(GrantedIdentity(identity_hash=digest) for digest in hashes - known)
    return len(known)


def _identity_hash(identity):
    key = hashlib.sha256(b"voxmoji granted identity\0" + current_app.config["SECRET_KEY"].encode()).digest()
    return hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()


def daily_allowance(user_id, today=None):
    """The optional daily free tokens; a second credit the same day violates the unique (user, batch) index."""
    amount = current_app.config["DAILY_FREE_TOKENS"]
    if amount <= 0:
        return None
    batch_id = f"daily:{(today or date.today()).isoformat()}"
    return credit(user_id, amount, "grant", batch_id=batch_id, note="daily allowance")


def entries(user, limit=20, before=None):
    """The user's ledger, newest first, with a cursor (the last entry id) for the next page."""
    query = sa.select(LedgerEntry).where(LedgerEntry.user_id == user.id)
    if before is not None:
        query = query.where(LedgerEntry.id < before)
    rows = db.session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def present(entry):
    """A ledger entry as the API shows it."""
    return {"delta": entry.delta, "kind": entry.kind, "balance_after": entry.balance_after,
            "held_delta": entry.held_delta, "held_after": entry.held_after, "job_id": entry.job_id,
            "batch_id": entry.batch_id, "created_at": isoformat(entry.created_at)}

