"""Console operators: argon2id password hashes, a TOTP second factor (RFC 6238, any authenticator app), a role,
and a lockout after repeated failures."""
from datetime import datetime, timedelta, timezone

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backend.extensions import db
from backend.models import Operator, utcnow
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


def locked(operator):
    return operator.disabled or (operator.locked_until is not None and operator.locked_until > utcnow())


def check_password(username, password):
    """The operator if the password is right and the account usable; None otherwise (a failure counts)."""
    operator = by_username(username)
    if operator is None:
        _verify(_DUMMY_HASH, password)
        return None
    if locked(operator):
        return None
    if not _verify(operator.password_hash, password):
        fail(operator)
        return None
    return operator


def check_totp(operator, code):
    """True for a current code not used before (codes of the previous and next 30 s step are accepted)."""
    if locked(operator):
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
                    totp_last_step=step, failed_logins=0, locked_until=None, last_login_at=utcnow())).rowcount
            if used:
                return True
            break  # a replayed code
    fail(operator)
    return False


def fail(operator):
    """Count a failure; the MAX_FAILURES-th locks the account for LOCKOUT."""
    with write_transaction():
        db.session.execute(sa.update(Operator).where(Operator.id == operator.id)
                           .values(failed_logins=Operator.failed_logins + 1))
        db.session.execute(sa.update(Operator).where(Operator.id == operator.id,
                                                     Operator.failed_logins >= MAX_FAILURES)
                           .values(locked_until=utcnow() + LOCKOUT, failed_logins=0))


def _verify(password_hash, password):
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return False
