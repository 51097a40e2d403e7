"""Admin API keys: shown once at creation, stored as SHA-256, checked by the admin Bearer guard."""
import hashlib
import secrets

import sqlalchemy as sa
from apiflask import HTTPTokenAuth
from sqlalchemy.exc import IntegrityError

from backend.errors import error_response
from backend.extensions import db
from backend.models import ApiKey, utcnow
from backend.services.transactions import write_transaction

admin_auth = HTTPTokenAuth(scheme="Bearer", description="an admin API key (flask --app backend create-api-key)",
                           security_scheme_name="AdminKeyAuth")


CONSOLE_KEY_NAME, CONSOLE_SCOPE = "(console)", "console"


def _digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


def create(name, scope="recharge"):
    """Create a key; returns (record, the key itself, which is not stored anywhere)."""
    key = "vmk_" + secrets.token_urlsafe(32)
    with write_transaction():
        record = ApiKey(name=name, scope=scope, key_hash=_digest(key), prefix=key[:10])
        db.session.add(record)
    return record, key


def revoke(key_id):
    """Revoke a key at once (its next request is 401); returns it, or None."""
    record = db.session.get(ApiKey, key_id)
    if record is None or record.revoked_at is not None:
        return None
    with write_transaction():
        record.revoked_at = utcnow()
    return record


def listing():
    return db.session.scalars(sa.select(ApiKey).where(ApiKey.scope != CONSOLE_SCOPE).order_by(ApiKey.id.desc())).all()


def console_identity():
    """The console's own ApiKey row: the identity its recharge forms' idempotency keys belong to (the same
    idempotency store as the API's). It has no usable key: its hash is of a random value nobody keeps."""
    record = db.session.scalars(sa.select(ApiKey).where(ApiKey.name == CONSOLE_KEY_NAME)).first()
    if record is None:
        try:
            with write_transaction():
                record = ApiKey(name=CONSOLE_KEY_NAME, scope=CONSOLE_SCOPE, prefix="console",
                                key_hash=_digest(secrets.token_urlsafe(48)))
                db.session.add(record)
        except IntegrityError:  # another process made it meanwhile
            record = db.session.scalars(sa.select(ApiKey).where(ApiKey.name == CONSOLE_KEY_NAME)).first()
    return record


@admin_auth.verify_token
def verify(key):
    """The unrevoked ApiKey for a Bearer key, else None (answered 401)."""
    if not key or not key.startswith("vmk_"):
        return None
    return db.session.scalars(
        sa.select(ApiKey).where(ApiKey.key_hash == _digest(key), ApiKey.revoked_at.is_(None))
    ).first()


@admin_auth.error_processor
def admin_auth_error(error):
    """401 in the API's error shape."""
    return error_response(401, "unauthorized", "Send an admin API key: Authorization: Bearer vmk_... "
                          "(create one with `flask --app backend create-api-key --name NAME`).")
