"""Accounts: what a blocked one is refused, and the operator's actions on them (find, block and unblock, each
written to the audit log)."""
import sqlalchemy as sa

from backend import account_copies
from backend.errors import ApiError
from backend.extensions import db
from backend.models import AuditRecord, RefreshToken, User, utcnow
from backend.transactions import write_transaction


def refuse_blocked(user):
    """403 forbidden for a blocked account (or one deleted at its owner's request), on every request."""
    if user.blocked and user.openid.startswith("erased:"):
        raise ApiError("forbidden", "This account was deleted at your request; log in again to start a new one.")
    if user.blocked:
        raise ApiError("forbidden", "This account is blocked; contact the mini-program's operator.")


def find(user_ref):
    """The user with this id or openid, or 404 not_found."""
    user = db.session.scalars(sa.select(User).where(sa.or_(User.id == user_ref, User.openid == user_ref))).first()
    if user is None:
        raise ApiError("not_found", f"No user {user_ref!r}.", "user")
    return user


def set_blocked(user_ref, blocked, actor, reason):
    """Block (or unblock) a user by id or openid. A block takes effect on the user's next request: every
    request reads the user, and their refresh tokens are revoked."""
    user = find(user_ref)
    with write_transaction():
        db.session.execute(sa.update(User).where(User.id == user.id).values(blocked=blocked))
        if blocked:
            db.session.execute(sa.update(RefreshToken).where(RefreshToken.user_id == user.id,
                                                             RefreshToken.used_at.is_(None)).values(used_at=utcnow()))
        db.session.add(AuditRecord(actor=actor, action="block" if blocked else "unblock", reason=reason,
                                   details={"user_id": user.id}))
    account_copies.changed(user.id)
    return user
