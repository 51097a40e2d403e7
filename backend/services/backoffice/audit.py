"""The audit log: every operator action and every recharge, append-only (table audit_log)."""
from datetime import datetime

import sqlalchemy as sa

from backend.extensions import db
from backend.models import AuditRecord
from backend.transactions import write_transaction


def record(actor, action, reason=None, /, **details):
    """Append one entry (its own transaction)."""
    with write_transaction():
        db.session.add(AuditRecord(actor=actor[:128], action=action[:32], reason=(reason or None) and reason[:500],
                                   details=details))


def search(actor=None, action=None, since=None, limit=200):
    """Entries newest first, filtered by actor substring, exact action and a start date (YYYY-MM-DD)."""
    query = sa.select(AuditRecord)
    if actor:
        query = query.where(AuditRecord.actor.contains(actor[:128], autoescape=True))
    if action:
        query = query.where(AuditRecord.action == action[:32])
    if since:
        try:
            query = query.where(AuditRecord.created_at >= datetime.strptime(since[:10], "%Y-%m-%d"))
        except ValueError:
            pass
    return db.session.scalars(query.order_by(AuditRecord.id.desc()).limit(limit)).all()


def actions():
    return db.session.scalars(sa.select(AuditRecord.action).distinct().order_by(AuditRecord.action)).all()
