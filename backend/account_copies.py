"""Per-process copies of what an account's requests read again and again: the account itself (is it blocked,
erased?), its saved voices, and its own finished results (what a repeated request is answered with). A copy is
used while the account's stamp in Redis is the one it was made under. Whatever changes them (a block or unblock,
erasure, a voice deleted, a result withdrawn or deleted) bumps the stamp, so every web process reads them afresh
on the account's next request; the token guard reads the stamp in the round trip it makes anyway (auth.py).
The signed-in account itself is always such a copy (`user`): every column but the balances, which are never
copied and are read from the database where they are used (ledger.balances). A repeated request answered from
these copies reads nothing from the database.

With Redis unavailable nothing is copied or reused (every request reads the database), and a copy is never used
for more than MAX_AGE seconds, which bounds what a change whose stamp could not be bumped can miss."""
import threading
import time
from collections import OrderedDict

from flask import current_app, g

from backend import ratelimit
from backend.extensions import db, get_redis
from backend.models import User
from backend.row_copies import copy_of, detached

MAX_AGE = 30.0
MAX_ACCOUNTS = 5000  # per process, the least recently used go first
MAX_ROWS = 200  # per account
_STAMP = "vm:account:"
# what the signed-in account's copy holds: every column but the balances
_IDENTITY_COLUMNS = tuple(column.key for column in User.__table__.columns if column.key not in ("balance", "held"))
_copies = OrderedDict()  # user id -> {"stamp", "at", "user": columns, (model name, key): columns}
_lock = threading.Lock()
UNKNOWN = object()  # a stamp that could not be read
_READ = object()  # no stamp given: read it


def stamp_key(user_id):
    """The Redis key of the account's stamp."""
    return _STAMP + user_id


def user(user_id, stamp=_READ):
    """The account with this id, None if there is none: a copy of its columns but the balances, outside the
    session (to read, not to change; its balances raise if read), from this process's copy when its stamp is
    current; `stamp` is the stamp just read (UNKNOWN: Redis could not be asked), else it is read here."""
    copy, stamp = _checked_copy(user_id, stamp)
    if copy is not None:
        return detached(User, copy["user"])
    found = db.session.get(User, user_id)
    if found is None:
        return None
    columns = copy_of(found, _IDENTITY_COLUMNS)
    if stamp is not UNKNOWN:  # kept only under a stamp that was read
        copy = {"stamp": stamp, "at": time.monotonic(), "user": columns}
        with _lock:
            _copies[user_id] = copy
            if len(_copies) > MAX_ACCOUNTS:
                _copies.popitem(last=False)
        g.account_checked = (user_id, copy)
    return detached(User, columns)


def recall(user_id, model, key):
    """A `model` row of the account kept under `key` (a copy of all its columns, outside the session: to read,
    not to change), or None."""
    copy, _stamp = _checked_copy(user_id)
    columns = copy.get((model.__name__, key)) if copy is not None else None
    return detached(model, columns) if columns is not None else None


def remember(user_id, row, key):
    """Keep a copy of a row of the account (all its columns) under `key`, while the account's stamp holds."""
    copy, _stamp = _checked_copy(user_id)
    if copy is not None and len(copy) < MAX_ROWS:
        with _lock:
            copy[(type(row).__name__, key)] = copy_of(row)


def changed(user_id):
    """Something copied of the account changed: no process may use its copies any more."""
    with _lock:
        _copies.pop(user_id, None)
    g.pop("account_checked", None)
    try:
        get_redis().set(_STAMP + user_id, ratelimit.fresh_stamp(), ex=ratelimit.STAMP_SECONDS)
    except Exception:  # noqa: BLE001 - copies elsewhere expire within MAX_AGE
        current_app.logger.error("could not bump the stamp of account %s", user_id, exc_info=True)


def _checked_copy(user_id, stamp=_READ):
    """(this process's copy of the account if it is current, the stamp read): the stamp is read once per
    request and account."""
    checked = g.get("account_checked")
    if checked is not None and checked[0] == user_id:
        return checked[1], None
    if stamp is _READ:
        stamp = _stamp(user_id)
    with _lock:
        copy = _copies.get(user_id)
        if copy is not None and (stamp is UNKNOWN or copy["stamp"] != stamp
                                 or time.monotonic() - copy["at"] >= MAX_AGE):
            _copies.pop(user_id, None)
            copy = None
        if copy is not None:
            _copies.move_to_end(user_id)
    if copy is not None:
        g.account_checked = (user_id, copy)
    return copy, stamp


def _stamp(user_id):
    """The account's stamp (a missing one is set to a fresh value first: a copy is never made under none)."""
    stamps = ratelimit.admit((), user_id, stamps=[_STAMP + user_id])
    return UNKNOWN if stamps is None else stamps[0]  # None: Redis could not be asked (read the database)
