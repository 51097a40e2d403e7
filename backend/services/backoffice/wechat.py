"""A small client for WeChat's server APIs: jscode2session (login), stable_token (access token),
msgSecCheck (text moderation) and mediaCheckAsync (media moderation), and the checks of a message push: its
signature, and in safe mode (安全模式) the signature and AES decryption of its body."""
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from flask import current_app

from backend.errors import ApiError
from backend.extensions import get_redis

_TOKEN_KEY = "vm:wechat:access_token"
MSG_SCENE_PROFILE = 1  # msgSecCheck scenes: 1 profile, 2 comment, 3 forum, 4 social log (what we send is 1)
MEDIA_TYPES = {"audio": 1, "image": 2}  # mediaCheckAsync's media_type
# msgSecCheck v2 labels (WeChat's documentation)
MSG_LABELS = {100: "normal", 10001: "ads", 20001: "politics", 20002: "porn", 20003: "abuse", 20006: "crime",
              20008: "fraud", 20012: "vulgar", 20013: "copyright", 21000: "other"}
_TOKEN_LOCK = "vm:wechat:access_token:lock"

# errcode -> (our code, message); anything else WeChat reports is "unavailable".
_LOGIN_ERRORS = {
    40029: ("unauthorized", "The login code is invalid or expired; call wx.login() again."),
    40163: ("unauthorized", "The login code was already used; call wx.login() again."),
    40226: ("forbidden", "WeChat has flagged this account as high-risk; login refused."),
    45011: ("wechat_unavailable", "WeChat is rate-limiting logins; retry in a minute."),
    -1: ("wechat_unavailable", "WeChat is busy; retry in a moment."),
}


@dataclass
class Session:
    """What jscode2session returns for a valid code."""

    openid: str
    session_key: str
    unionid: str | None


class WeChatClient:
    """jscode2session and stable_token over HTTPS with timeouts; WeChat errors become ApiErrors."""

    def __init__(self, appid, secret, base_url="https://api.weixin.qq.com", timeout=5.0):
        self.appid = appid
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    @classmethod
    def from_config(cls, config):
        return cls(config["WECHAT_APPID"], config["WECHAT_SECRET"], config["WECHAT_API_BASE"],
                   config["WECHAT_TIMEOUT"])

    def _call(self, method, path, **kwargs):
        try:
            response = self.http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            body = response.json()
        except requests.Timeout:
            raise ApiError("wechat_unavailable", "WeChat did not answer in time; retry in a moment.")
        except (requests.RequestException, json.JSONDecodeError, ValueError):
            raise ApiError("wechat_unavailable", "WeChat's servers could not be reached; retry in a moment.")
        if not isinstance(body, dict):
            raise ApiError("wechat_unavailable", "WeChat answered something unexpected; retry in a moment.")
        return body

    def code2session(self, code):
        """Exchange a wx.login() code for the user's openid (and unionid when the app has one)."""
        body = self._call("GET", "/sns/jscode2session", params={
            "appid": self.appid, "secret": self.secret, "js_code": code, "grant_type": "authorization_code"})
        errcode = body.get("errcode", 0)
        if errcode:
            code_name, message = _LOGIN_ERRORS.get(errcode, ("wechat_unavailable",
                                                             f"WeChat refused the login (errcode {errcode})."))
            current_app.logger.warning("jscode2session errcode=%s errmsg=%s", errcode, body.get("errmsg"))
            raise ApiError(code_name, message, "code" if code_name == "unauthorized" else None)
        if not body.get("openid"):
            raise ApiError("wechat_unavailable", "WeChat answered without an openid; retry in a moment.")
        return Session(body["openid"], body.get("session_key", ""), body.get("unionid"))

    def access_token(self, force_refresh=False):
        """The app's access token from stable_token, cached in Redis; one process refreshes it at a time."""
        redis = get_redis()
        if not force_refresh:
            cached = redis.get(_TOKEN_KEY)
            if cached:
                return cached.decode()
        with redis.lock(_TOKEN_LOCK, timeout=30, blocking_timeout=15):
            cached = None if force_refresh else redis.get(_TOKEN_KEY)
            if cached:  # another process refreshed it while we waited for the lock
                return cached.decode()
            body = self._call("POST", "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret,
                "force_refresh": force_refresh})
            if body.get("errcode") or not body.get("access_token"):
                raise ApiError("wechat_unavailable", f"WeChat refused an access token (errcode {body.get('errcode')}).")
            lifetime = max(60, int(body.get("expires_in", 7200)) - 300)  # refresh 5 minutes early
            redis.set(_TOKEN_KEY, body["access_token"], ex=lifetime)
            return body["access_token"]

    def call_with_token(self, path, payload):
        """POST to an API that takes the access token; a token WeChat calls invalid or expired (40001, 42001)
        is refreshed once and the call repeated."""
        for attempt in range(2):
            body = self._call("POST", path, params={"access_token": self.access_token(force_refresh=attempt > 0)},
                              json=payload)
            if body.get("errcode") not in (40001, 42001):
                return body
        return body

    def msg_sec_check(self, openid, content, scene=MSG_SCENE_PROFILE):
        """msgSecCheck v2: `{"suggest": pass|review|risky, "label": str}` for a user's text."""
        body = self.call_with_token("/wxa/msg_sec_check", {"openid": openid, "scene": scene, "version": 2,
                                                           "content": content[:2500]})
        if body.get("errcode"):
            current_app.logger.warning("msg_sec_check errcode=%s errmsg=%s", body.get("errcode"), body.get("errmsg"))
            raise ApiError("wechat_unavailable", "WeChat's content check is not answering; retry in a moment.")
        result = body.get("result") or {}
        return {"suggest": result.get("suggest", "pass"), "label": MSG_LABELS.get(result.get("label"),
                                                                                  str(result.get("label", "")))}

    def media_check_async(self, openid, media_url, media_type, scene=MSG_SCENE_PROFILE):
        """mediaCheckAsync v2: submit an image or audio file WeChat downloads from `media_url`; returns the
        trace_id its verdict (a `wxa_media_check` message push) will carry."""
        body = self.call_with_token("/wxa/media_check_async", {
            "media_url": media_url, "media_type": MEDIA_TYPES[media_type], "version": 2, "scene": scene,
            "openid": openid})
        if body.get("errcode") or not body.get("trace_id"):
            current_app.logger.warning("media_check_async errcode=%s errmsg=%s", body.get("errcode"),
                                       body.get("errmsg"))
            raise ApiError("wechat_unavailable", f"WeChat refused a media check (errcode {body.get('errcode')}).")
        return body["trace_id"]


def push_signature(token, timestamp, nonce):
    """The signature WeChat puts on a message push: sha1 of the token, timestamp and nonce, sorted and joined."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()


def push_is_genuine(token, signature, timestamp, nonce):
    return bool(token and signature and timestamp and nonce) and hmac.compare_digest(
        push_signature(token, timestamp, nonce), signature)


def push_message_signature(token, timestamp, nonce, encrypted):
    """The msg_signature of a safe-mode push: sha1 of the token, timestamp, nonce and the encrypted body."""
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def decrypt_push(encoding_aes_key, appid, encrypted):
    """The message inside a safe-mode push's `Encrypt` (AES-256-CBC under the 43-character EncodingAESKey, IV its
    first 16 bytes; the plaintext is 16 random bytes, the message's length in 4 bytes, the message and the appid
    it was sent to). ValueError when it does not decrypt or was sent to another appid."""
    key = base64.b64decode(encoding_aes_key + "=")
    try:
        data = base64.b64decode(encrypted, validate=True)
    except (ValueError, TypeError):
        raise ValueError("Encrypt is not base64") from None
    if not data or len(data) % 16:
        raise ValueError("Encrypt is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or len(plain) < 20 + pad:
        raise ValueError("bad padding")
    plain = plain[:-pad]
    length = int.from_bytes(plain[16:20], "big")
    message, receiver = plain[20:20 + length], plain[20 + length:]
    if len(message) != length or not hmac.compare_digest(receiver, appid.encode()):
        raise ValueError("the push was sent to another app")
    return message
