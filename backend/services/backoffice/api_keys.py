"""API keys: shown once at creation, stored as SHA-256. Scope `recharge`: the admin API (admin_auth). Scope
`speech`: speaks for one account on the OpenAI-compatible /v1/audio/speech (speech_auth), billing that
account's tokens; nothing else accepts it."""
import hashlib
import secrets

import sqlalchemy as sa
from apiflask import HTTPTokenAuth
from sqlalchemy.exc import IntegrityError

from backend.errors import error_response
from backend.extensions import db
from backend.models import ApiKey, User, utcnow
from backend.services.backoffice.accounts import refuse_blocked
from backend.transactions import write_transaction

admin_auth = HTTPTokenAuth(scheme="Bearer", description="an admin API key (bin/voxmoji create-api-key)",
                           security_scheme_name="AdminKeyAuth")


speech_auth = HTTPTokenAuth(scheme="Bearer", description="a speech API key (the console's API keys page), as "
                            "OpenAI clients send it", security_scheme_name="SpeechKeyAuth")

CONSOLE_KEY_NAME, CONSOLE_SCOPE = "(console)", "console"
SCOPES = ("recharge", "speech")  # what operators create; `console` is the console's own identity


def _digest(key):
    return hashlib.sha256(key.encode()).hexdigest()


def create(name, scope="recharge", user_id=None):
    """Create a key; returns (record, the key itself, which is not stored anywhere). A `speech` key needs the
    account it speaks for."""
    if scope not in SCOPES or (scope == "speech") != (user_id is not None):
        raise ValueError(f"scope must be one of {SCOPES}; a speech key (only) names its account")
    key = "vmk_" + secrets.token_urlsafe(32)
    with write_transaction():
        record = ApiKey(name=name, scope=scope, key_hash=_digest(key), prefix=key[:10], user_id=user_id)
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
    """The unrevoked admin ApiKey for a Bearer key, else None (answered 401)."""
    record = _unrevoked(key)
    return record if record is not None and record.scope != "speech" else None


@speech_auth.verify_token
def verify_speech(key):
    """The account a speech key speaks for, else None (answered 401); a blocked account is 403."""
    record = _unrevoked(key)
    if record is None or record.scope != "speech":
        return None
    user = db.session.get(User, record.user_id)
    if user is not None:
        refuse_blocked(user)
    return user


def _unrevoked(key):
    if not key or not key.startswith("vmk_") or len(key) > 128:
        return None
    return db.session.scalars(
        sa.select(ApiKey).where(ApiKey.key_hash == _digest(key), ApiKey.revoked_at.is_(None))
    ).first()


@speech_auth.error_processor
def speech_auth_error(error):
    return error_response(401, "unauthorized", "Send a speech API key as an OpenAI client does: "
                          "Authorization: Bearer vmk_... (the operator creates one in the console, 管理后台 → API 密钥).")


@admin_auth.error_processor
def admin_auth_error(error):
    """401 in the API's error shape."""
    return error_response(401, "unauthorized", "Send an admin API key: Authorization: Bearer vmk_... "
                          "(create one with `bin/voxmoji create-api-key --name NAME`).")
