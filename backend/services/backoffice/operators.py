"""Console operators: argon2id password hashes, a TOTP second factor (RFC 6238, any authenticator app), a role,
a lockout after repeated failures (per account and client address), and the admin's actions on them."""
from datetime import datetime, timedelta, timezone

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.extensions import db, get_redis
from backend.models import Operator, utcnow
from backend.services.backoffice import console_sessions
from backend.transactions import write_transaction

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
PASSWORD_MIN = 12
ISSUER = "VoxMoji 运营后台"
_hasher = PasswordHasher()  # argon2id with the library's (OWASP-level) parameters
_DUMMY_HASH = _hasher.hash("a password nobody has")  # so an unknown username costs the same time


def create(username, password, role):
    """A new operator; returns (operator, the TOTP secret to put into the authenticator app)."""
    username = (username or "").strip()
    if not 1 <= len(username) <= 64:
        raise ValueError("username must be 1-64 characters")
    if role not in Operator.ROLES:
        raise ValueError(f"role must be one of {Operator.ROLES}")
    if len(password or "") < PASSWORD_MIN:
        raise ValueError(f"the password needs at least {PASSWORD_MIN} characters")
    secret = pyotp.random_base32()
    with write_transaction():
        operator = Operator(username=username, password_hash=_hasher.hash(password), totp_secret=secret, role=role,
                            totp_last_step=0, failed_logins=0, disabled=False)
        db.session.add(operator)
    return operator, secret


def provisioning_uri(operator):
    return pyotp.TOTP(operator.totp_secret).provisioning_uri(name=operator.username, issuer_name=ISSUER)


def by_username(username):
    return db.session.scalars(sa.select(Operator).where(Operator.username == (username or "").strip()[:64])).first()


def listing():
    """Every operator, by username."""
    return db.session.scalars(sa.select(Operator).order_by(Operator.username)).all()


# Failed sign-ins are counted in Redis per (username, client address) and per address: MAX_FAILURES for one
# account from one address lock that account *from that address* for LOCKOUT, so a stranger elsewhere cannot
# lock its operator out; ADDRESS_MAX_FAILURES from one address, over any usernames, stop that address.
ADDRESS_MAX_FAILURES = 20
_FAILURES = "vm-console:failures:"


def _failure_keys(username, address):
    return f"{_FAILURES}{address}:{(username or '').strip()[:64]}", f"{_FAILURES}{address}"


def locked(username, address):
    """True while sign-ins to this username from this address are refused (too many failures)."""
    account, everyone = get_redis().mget(_failure_keys(username, address))
    return int(account or 0) >= MAX_FAILURES or int(everyone or 0) >= ADDRESS_MAX_FAILURES


def fail(username, address):
    """Count a failed password or TOTP code; each failure keeps the count for LOCKOUT from now."""
    seconds = int(LOCKOUT.total_seconds())
    with get_redis().pipeline() as pipe:
        for key in _failure_keys(username, address):
            pipe.incr(key)
            pipe.expire(key, seconds)
        pipe.execute()


def check_password(username, password, address):
    """The operator if the password is right and the account usable; None otherwise (a failure counts)."""
    operator = by_username(username)
    if locked(username, address):
        return None
    if operator is None:
        _verify(_DUMMY_HASH, password)
        fail(username, address)
        return None
    if operator.disabled or not _verify(operator.password_hash, password):
        fail(username, address)
        return None
    return operator


def check_totp(operator, code, address):
    """True for a current code not used before (codes of the previous and next 30 s step are accepted)."""
    if operator.disabled or locked(operator.username, address):
        return False
    totp = pyotp.TOTP(operator.totp_secret)
    code = (code or "").strip().replace(" ", "")
    current = totp.timecode(datetime.now(timezone.utc))
    for offset in (0, -1, 1):
        step = current + offset
        if code.isdigit() and len(code) == 6 and totp.generate_otp(step) == code:
            with write_transaction():
                used = db.session.execute(sa.update(Operator).where(
                    Operator.id == operator.id, Operator.totp_last_step < step).values(
                    totp_last_step=step, last_login_at=utcnow())).rowcount
            if used:
                get_redis().delete(_failure_keys(operator.username, address)[0])
                return True
            break  # a replayed code
    fail(operator.username, address)
    return False


def check_current_password(operator, password):
    """True if `password` is the operator's (to confirm a change of their own password)."""
    return _verify(operator.password_hash, password)


def set_disabled(operator_id, disabled):
    """Block (or unblock) an operator; a block ends their sessions at once. Returns the operator or None."""
    with write_transaction():
        changed = db.session.execute(sa.update(Operator).where(Operator.id == operator_id)
                                     .values(disabled=disabled)).rowcount
    if disabled:
        console_sessions.end_all(operator_id)
    return db.session.get(Operator, operator_id) if changed else None


def set_password(operator_id, password):
    """A new password for an operator; every session of theirs ends (ValueError if too short)."""
    if len(password or "") < PASSWORD_MIN:
        raise ValueError(f"the password needs at least {PASSWORD_MIN} characters")
    with write_transaction():
        changed = db.session.execute(sa.update(Operator).where(Operator.id == operator_id)
                                     .values(password_hash=_hasher.hash(password))).rowcount
    console_sessions.end_all(operator_id)
    return bool(changed)


def reset_totp(operator_id):
    """A new TOTP secret (the old authenticator entry stops working); every session ends. Returns the secret."""
    secret = pyotp.random_base32()
    with write_transaction():
        changed = db.session.execute(sa.update(Operator).where(Operator.id == operator_id)
                                     .values(totp_secret=secret, totp_last_step=0)).rowcount
    console_sessions.end_all(operator_id)
    return secret if changed else None


def _verify(password_hash, password):
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False
