"""Text moderation, before any job or voice is created: the operator's word list, then WeChat's msgSecCheck.

The word list (table `moderation_words`, edited with `flask --app backend words ...`) is matched with an
Aho–Corasick automaton over a normalised form of the text that undoes the usual evasions: full-width and
half-width forms (NFKC), case, traditional characters (converted to simplified), and spaces, punctuation,
symbols or zero-width characters put between the characters of a word. Each word carries a label (what it
is about) and an action: `risky` refuses the request (422 `content_rejected`, naming the label; nothing is
charged), `review` accepts it and flags it for the review queue (or refuses it too, with
VOXMOJI_MODERATION_REVIEW=reject). With WeChat credentials and a WeChat user, msgSecCheck (v2) is asked
too and its `risky` / `review` suggestion is treated the same way.
"""
import threading
import time
import unicodedata
from dataclasses import dataclass

import ahocorasick
import sqlalchemy as sa
from flask import current_app
from opencc import OpenCC

from backend.errors import ApiError
from backend.extensions import db, get_redis
from backend.models import ModerationWord, ReviewItem
from backend.services.backoffice.wechat import WeChatClient
from backend.transactions import write_transaction

ACTIONS = ("risky", "review")
WORD_MAX = 100  # the column's length
_VERSION_KEY = "vm:moderation:wordlist-version"
_CHECK_SECONDS = 1.0  # how often a process asks Redis whether the word list changed
_to_simplified = OpenCC("t2s")
_automaton = {"version": None, "checked": -1e9, "automaton": None}
_automaton_lock = threading.Lock()


@dataclass(frozen=True)
class Hit:
    field: str
    label: str
    action: str  # risky | review
    source: str  # wordlist | wechat
    match: str


def normalize(text):
    """The form words are matched in: NFKC, casefolded, simplified, letters and digits only."""
    text = _to_simplified.convert(unicodedata.normalize("NFKC", text or "").casefold())
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def check(user, texts):
    """Moderate the texts of one request (`{field: text}`); raise 422 content_rejected for a refused one and
    return the hits to flag for review (`record_flags` once the job or voice exists)."""
    hits = []
    for field, text in texts.items():
        if text:
            hits += _wordlist_hits(field, text)
    if not any(hit.action == "risky" for hit in hits):
        hits += _wechat_hits(user, texts)
    refuse_review = current_app.config["MODERATION_REVIEW"] == "reject"
    for hit in hits:
        if hit.action == "risky" or refuse_review:
            raise ApiError("content_rejected", f"The {hit.field} contains content that is not allowed "
                           f"({hit.label}); please change it.", hit.field)
    return hits


def record_flags(hits, user, texts, job_id=None, voice_id=None):
    """Put `review` hits in the review queue, attached to what was created."""
    if not hits:
        return
    with write_transaction():
        for hit in hits:
            db.session.add(ReviewItem(kind="flag", source=hit.source, label=hit.label, field=hit.field,
                                      text=texts.get(hit.field, "")[:500], user_id=user.id, job_id=job_id,
                                      voice_id=voice_id))


def _wordlist_hits(field, text):
    found = {}
    automaton = _current_automaton()
    if automaton is None:
        return []
    for _end, (word, label, action) in automaton.iter(normalize(text)):
        if action == "risky" or word not in found:
            found[word] = Hit(field, label, action, "wordlist", word)
    return sorted(found.values(), key=lambda hit: hit.action != "risky")


def _current_automaton():
    """This process's automaton, rebuilt when the word list's version in Redis changes (checked each second)."""
    now = time.monotonic()
    with _automaton_lock:
        if now - _automaton["checked"] < _CHECK_SECONDS:
            return _automaton["automaton"]
        _automaton["checked"] = now
        try:
            version = get_redis().get(_VERSION_KEY)
        except Exception:  # noqa: BLE001 - without Redis, rebuild from the database each time
            version = object()
        if version is not None and version == _automaton["version"]:
            return _automaton["automaton"]
        _automaton.update(version=version, automaton=_build())
        return _automaton["automaton"]


def _build():
    words = db.session.execute(sa.select(ModerationWord.normalized, ModerationWord.label,
                                         ModerationWord.action)).all()
    if not words:
        return None
    automaton = ahocorasick.Automaton()
    for normalized, label, action in words:
        previous = automaton.get(normalized, None)
        if previous is None or action == "risky":
            automaton.add_word(normalized, (normalized, label, action))
    automaton.make_automaton()
    return automaton


def _wechat_hits(user, texts):
    """msgSecCheck v2 on the joined texts, for users who logged in with WeChat (it needs their openid)."""
    if not current_app.config["WECHAT_APPID"] or not getattr(user, "openid", None):
        return []
    joined = "\n".join(text for text in texts.values() if text)
    if not joined:
        return []
    verdict = WeChatClient.from_config(current_app.config).msg_sec_check(user.openid, joined)
    if verdict["suggest"] in ("risky", "review"):
        field = next(field for field, text in texts.items() if text)
        return [Hit(field, verdict["label"], verdict["suggest"], "wechat", "")]
    return []


# -- the word list (the CLI and, later, the console) ---------------------------------------------

def add_word(word, label, action):
    """Add or update a word; every process picks the change up within a second."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}")
    if not 1 <= len(word.strip()) <= WORD_MAX or not 1 <= len(label) <= 32:
        raise ValueError(f"a word has 1-{WORD_MAX} characters and a label 1-32")
    normalized = normalize(word)
    if not normalized:
        raise ValueError(f"{word!r} has no letters or digits to match")
    with write_transaction():
        existing = db.session.scalars(sa.select(ModerationWord).where(ModerationWord.normalized == normalized)).first()
        if existing is None:
            db.session.add(ModerationWord(word=word.strip(), normalized=normalized, label=label, action=action))
        else:
            existing.word, existing.label, existing.action = word.strip(), label, action
    _bump_version()
    return normalized


def remove_word(word):
    with write_transaction():
        removed = db.session.execute(sa.delete(ModerationWord).where(
            ModerationWord.normalized == normalize(word))).rowcount
    _bump_version()
    return removed


def _bump_version():
    get_redis().incr(_VERSION_KEY)
    with _automaton_lock:
        _automaton["checked"] = -1e9
