"""Consent to deep synthesis of a person's voice (docs/API.md, "Consent"). Before a voice is saved, the speaker
reads a sentence saying they agree, with a short random code in it (so an old recording of the same person
cannot be reused) and the date; that recording is the voice's reference audio. The sentence comes from
`GET /api/v1/voices/consent` with a short-lived signed token, good for one voice.

Whether the recording says the sentence is checked (VOXMOJI_CONSENT_CHECK):
- `auto`: a speech-recognition worker transcribes it, and a transcript whose character error rate against the
  sentence is above VOXMOJI_CONSENT_MAX_CER, or that lacks the code, is refused (422 consent_mismatch, nothing
  kept); with no such
  worker live, or no answer in time, the voice waits for a moderator (`reviewing`);
- `review`: a moderator always listens to it (the console plays it next to the sentence);
- `none` (a stack that does not look public only; the dev mode's default): usable at once, marked `unverified`.
The sentence is also the recording's exact transcript, which CosyVoice3's zero-shot cloning needs."""
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app

from backend import celery_app
from backend.celery_app import TRANSCRIBE_CONSENT
from backend.engine_choice import fleet, lineup
from backend.errors import ApiError
from backend.extensions import get_redis
from backend.services.backoffice import voices
from backend.services.media import recordings

CHINA = timezone(timedelta(hours=8))
SENTENCE = "我是本人，我同意用我的声音生成语音。验证码{code}。今天是{date}。"
DIGITS = "零一二三四五六七八九"
_AUDIENCE = "voxmoji-voice-consent"
TOKEN_SECONDS = 1800
REPLY_KEY = "vm:consent-transcript:"
_NOT_SPOKEN = re.compile(r"[\W_]+")  # punctuation and spaces: not compared
_CODE = re.compile(f"验证码([{DIGITS}]{{4}})")


@dataclass(frozen=True)
class Consent:
    """A verified consent token: the sentence to be read and the token's id (one voice per token)."""
    sentence: str
    token_id: str


@dataclass(frozen=True)
class Verdict:
    """How a consent recording was checked: `status` verified | reviewing | unverified, and by what."""
    status: str
    method: str | None = None  # "asr" | "moderator" | None
    transcript: str | None = None
    error_rate: float | None = None


def offer(user, now=None):
    """The sentence to read (a random four-digit code, written in Chinese numerals, and today's date) and a token
    binding it to this user for half an hour."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(CHINA)
    code = "".join(secrets.choice(DIGITS) for _ in range(4))
    text = SENTENCE.format(code=code, date=f"{local.year}年{local.month}月{local.day}日")
    expires = now + timedelta(seconds=TOKEN_SECONDS)
    token = jwt.encode({"sub": user.id, "aud": _AUDIENCE, "txt": text, "jti": secrets.token_hex(12), "iat": now,
                        "exp": expires}, current_app.config["SECRET_KEY"], algorithm="HS256")
    return {"text": text, "consent_token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def verify(user, token):
    """The Consent the token vouches for; 422 consent_required when it is missing, forged, expired or another
    user's. (Whether it was used already is the voices table's: one voice per token id.)"""
    if not token:
        raise ApiError("consent_required", "Saving a voice needs the speaker's consent: get the sentence from "
                       "GET /api/v1/voices/consent, record yourself reading it, and send its consent_token.",
                       "consent_token")
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"], audience=_AUDIENCE,
                            options={"require": ["exp", "sub", "txt", "jti"]})
    except jwt.ExpiredSignatureError:
        raise ApiError("consent_required", "The consent sentence expired; get a new one and record it again.",
                       "consent_token")
    except jwt.PyJWTError:
        raise ApiError("consent_required", "consent_token is not valid; get one from GET /api/v1/voices/consent.",
                       "consent_token")
    if claims["sub"] != user.id:
        raise ApiError("consent_required", "consent_token belongs to another account.", "consent_token")
    return Consent(claims["txt"], str(claims["jti"])[:32])


def save_voice(user, data, declared_format, sample_rate, prompt_text, name, consent):
    """Save a voice from its consent recording (`data`): texts moderated, the token not used before, the
    recording stored and checked by the policy (a refused one is not kept)."""
    texts, flags = voices.checked_texts(user, name, prompt_text or consent.sentence)
    voices.refuse_spent_token(consent.token_id)  # before any work; the unique column settles a race
    prompt = recordings.store_prompt(data, declared_format, sample_rate, "audio")
    try:
        verdict = check(consent, prompt)
    except ApiError:
        voices.discard_recording(prompt)
        raise
    return voices.create(user, prompt, texts, flags, consent, verdict)


def check(consent, prompt):
    """The Verdict on a stored consent recording (`prompt`), by the configured policy; 422 consent_mismatch when
    speech recognition hears another sentence."""
    config = current_app.config
    policy = config["CONSENT_CHECK"]
    if policy == "none":
        return Verdict("unverified")
    engine = fleet.recognizer() if policy == "auto" else None
    if engine is None:
        return Verdict("reviewing")
    transcript = _transcribe(engine, prompt.path, config["CONSENT_CHECK_SECONDS"])
    if transcript is None:  # no answer in time (the workers are busy or just went away): a person decides
        return Verdict("reviewing")
    rate = error_rate(consent.sentence, transcript)
    code = _CODE.search(consent.sentence)
    if rate > config["CONSENT_MAX_CER"] or (code and code.group(1) not in _spoken(transcript)):
        raise ApiError("consent_mismatch", f"The recording does not say the consent sentence (heard "
                       f"「{transcript[:60]}」); record yourself reading 「{consent.sentence}」 and send it again.",
                       "audio")
    return Verdict("verified", "asr", transcript[:200], round(rate, 3))


def _transcribe(engine, path, seconds):
    """Ask a speech-recognition worker for the recording's transcript; None when none answers within `seconds`."""
    reply = REPLY_KEY + secrets.token_hex(12)
    try:
        celery_app.send(TRANSCRIBE_CONSENT, path, reply, engine, queue=lineup.get("asr", engine).queue)
        answer = get_redis().blpop([reply], timeout=seconds)
    except Exception:  # noqa: BLE001 - Redis or the broker down: a person checks it instead
        current_app.logger.warning("consent transcription failed; the voice goes to review", exc_info=True)
        return None
    if answer is None:
        return None
    return json.loads(answer[1]).get("text")


def error_rate(sentence, transcript):
    """Character error rate of a transcript against the sentence: edit distance over the sentence's length,
    ignoring punctuation and spaces and reading Arabic digits as the Chinese numerals the sentence uses."""
    reference, heard = _spoken(sentence), _spoken(transcript)
    if not reference:
        return 0.0
    previous = list(range(len(heard) + 1))
    for i, expected in enumerate(reference, 1):
        current = [i]
        for j, got in enumerate(heard, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (expected != got)))
        previous = current
    return previous[-1] / len(reference)


def _spoken(text):
    text = text.translate(str.maketrans("0123456789〇", DIGITS + "零"))
    return _NOT_SPOKEN.sub("", text).lower()
