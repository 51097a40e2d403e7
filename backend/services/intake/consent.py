"""Consent to deep synthesis of a person's voice: before a voice is saved, the speaker reads a sentence saying
they agree, and that recording is the voice's reference audio. The sentence (with the date) comes from
`GET /api/v1/voices/consent` with a short-lived signed token; `POST /api/v1/voices` needs the token, and the
voice keeps the consent record (the sentence, when, and the digest of the recording of it). The sentence is
also the recording's exact transcript, which CosyVoice3's zero-shot cloning needs."""
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app

from backend.errors import ApiError

CHINA = timezone(timedelta(hours=8))
SENTENCE = "我是本人，我同意用我的声音生成语音。今天是{date}。"
_AUDIENCE = "voxmoji-voice-consent"
TOKEN_SECONDS = 1800


def offer(user, now=None):
    """The sentence to read and a token binding it to this user for half an hour."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(CHINA)
    text = SENTENCE.format(date=f"{local.year}年{local.month}月{local.day}日")
    expires = now + timedelta(seconds=TOKEN_SECONDS)
    token = jwt.encode({"sub": user.id, "aud": _AUDIENCE, "txt": text, "iat": now, "exp": expires},
                       current_app.config["SECRET_KEY"], algorithm="HS256")
    return {"text": text, "consent_token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def verify(user, token):
    """The consent sentence the token vouches for; 422 consent_required when it is missing, forged, expired or
    another user's."""
    if not token:
        raise ApiError("consent_required", "Saving a voice needs the speaker's consent: get the sentence from "
                       "GET /api/v1/voices/consent, record yourself reading it, and send its consent_token.",
                       "consent_token")
    try:
        claims = jwt.decode(token, current_app.config["SECRET_KEY"], algorithms=["HS256"], audience=_AUDIENCE,
                            options={"require": ["exp", "sub", "txt"]})
    except jwt.ExpiredSignatureError:
        raise ApiError("consent_required", "The consent sentence expired; get a new one and record it again.",
                       "consent_token")
    except jwt.PyJWTError:
        raise ApiError("consent_required", "consent_token is not valid; get one from GET /api/v1/voices/consent.",
                       "consent_token")
    if claims["sub"] != user.id:
        raise ApiError("consent_required", "consent_token belongs to another account.", "consent_token")
    return claims["txt"]
