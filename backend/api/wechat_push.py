"""WeChat's side of media moderation: the message push that brings mediaCheckAsync verdicts, the signed URL
WeChat downloads a checked file from, and the answer for a media URL whose file is gone."""
import hmac
import io
import json
import mimetypes
import time

from apiflask import APIBlueprint
from apiflask.schemas import FileSchema
from flask import Response, current_app, request
from PIL import Image

from backend.errors import ApiError
from backend.extensions import get_redis
from backend.schemas import CheckFetchQuery, PushQuery
from backend.services.backoffice import media_moderation
from backend.services.backoffice.wechat import decrypt_push, push_is_genuine, push_message_signature
from backend.services.media import files

bp = APIBlueprint("wechat_push", __name__, tag="WeChat")
PUSH_MAX_BYTES = 64 * 1024
PUSH_MAX_AGE = 300  # seconds: an older signed push is a replay
NONCE_KEY = "vm:wechat-push-nonce:"


def _genuine(query):
    token = current_app.config["WECHAT_PUSH_TOKEN"]
    if not push_is_genuine(token, query["signature"], query["timestamp"], query["nonce"]):
        raise ApiError("forbidden", "The push signature does not match WECHAT_PUSH_TOKEN.")


@bp.get("/api/v1/wechat/push")
@bp.input(PushQuery, location="query", arg_name="query")
@bp.output(FileSchema(type="string"), content_type="text/plain", description="echostr, as WeChat expects")
def verify_push_url(query):
    """WeChat's check of the message push URL (开发管理 → 消息推送): answer echostr when the signature matches."""
    _genuine(query)
    return Response(query["echostr"] or "", mimetype="text/plain")


@bp.post("/api/v1/wechat/push")
@bp.input(PushQuery, location="query", arg_name="query")
@bp.output(FileSchema(type="string"), content_type="text/plain", description="`success`, as WeChat expects")
def receive_push(query):
    """A message push (JSON; in safe mode, 安全模式, its body encrypted and signed, which production requires).
    `wxa_media_check` events carry a media check's verdict, matched by trace_id; other events are acknowledged
    and ignored. A signed query is good once (its nonce is remembered for its 5 minutes), and only for this app."""
    _genuine(query)
    try:
        sent_at = int(query["timestamp"])
    except ValueError:
        raise ApiError("invalid_request", "timestamp is not a number.", "timestamp")
    if abs(time.time() - sent_at) > PUSH_MAX_AGE:
        raise ApiError("forbidden", "The push is older than 5 minutes (a replay?).", "timestamp")
    if (request.content_length or 0) > PUSH_MAX_BYTES:
        raise ApiError("payload_too_large", "A push is at most 64 KB.")
    event = _event(query, request.get_json(silent=True))
    nonce = f"{NONCE_KEY}{query['timestamp']}:{query['nonce']}"
    if not get_redis().set(nonce, 1, nx=True, ex=2 * PUSH_MAX_AGE):
        raise ApiError("forbidden", "This signed push was received already (a replay?).", "nonce")
    try:
        _apply(event)
    except ApiError:
        get_redis().delete(nonce)  # not applied: WeChat's retry of it must get through
        raise
    return Response("success", mimetype="text/plain")


def _event(query, body):
    """The push's event: decrypted and its signature checked in safe mode (required when an EncodingAESKey is
    configured), else the plaintext body."""
    config = current_app.config
    aes_key = config["WECHAT_PUSH_AES_KEY"]
    if not isinstance(body, dict):
        raise ApiError("invalid_request", "Configure the message push as JSON in safe mode (安全模式).")
    if not aes_key:
        return body
    encrypted = body.get("Encrypt")
    if query["encrypt_type"] != "aes" or not isinstance(encrypted, str) or not query["msg_signature"]:
        raise ApiError("forbidden", "This server takes message pushes in safe mode only (安全模式, JSON).")
    expected = push_message_signature(config["WECHAT_PUSH_TOKEN"], query["timestamp"], query["nonce"], encrypted)
    if not hmac.compare_digest(expected, query["msg_signature"]):
        raise ApiError("forbidden", "The push's msg_signature does not match its body.", "msg_signature")
    try:
        event = json.loads(decrypt_push(aes_key, config["WECHAT_APPID"], encrypted))
    except ValueError:
        raise ApiError("forbidden", "The push does not decrypt with WECHAT_PUSH_AES_KEY for this app.") from None
    if not isinstance(event, dict):
        raise ApiError("invalid_request", "The decrypted push is not a JSON object.")
    return event


def _apply(event):
    if event.get("Event") != "wxa_media_check":
        return
    if event.get("appid") != current_app.config["WECHAT_APPID"]:
        raise ApiError("forbidden", "The media check event is for another app.", "appid")
    result = event.get("result") if isinstance(event.get("result"), dict) else {}
    trace_id = str(event.get("trace_id") or "")[:64]
    if not media_moderation.receive_verdict(trace_id, str(result.get("suggest", "")), result.get("label")):
        # not (yet) ours: WeChat retries a push that is not answered `success`
        raise ApiError("not_found", f"No media check with trace_id {trace_id!r}.", "trace_id")


@bp.get("/api/v1/wechat/media/<row_id:check_id>")
@bp.input(CheckFetchQuery, location="query", arg_name="query")
@bp.output(FileSchema(type="string", format="binary"), content_type="application/octet-stream",
           description="the file under check (WebP as PNG: mediaCheckAsync reads no WebP)")
def checked_file(check_id, query):
    """The file of a media check, for WeChat to download through the signed URL sent with the check."""
    check = media_moderation.check_for_fetch(check_id, query["expires"], query["sig"])
    try:
        data = files.read(check.path)
    except KeyError:
        raise ApiError("not_found", "No such file.")
    mime = mimetypes.guess_type(check.path)[0] or "application/octet-stream"
    if check.path.endswith(".webp"):
        buffer = io.BytesIO()
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGBA").save(buffer, format="PNG")
        data, mime = buffer.getvalue(), "image/png"
    return Response(data, mimetype=mime, headers={"Cache-Control": "no-store"})


@bp.get("/media/<path:relative>")
@bp.doc(hide=True)
def missing_media(relative):
    """Nginx asks here when a signed media URL's file is not there: 410 if moderation withdrew it, else 404."""
    if media_moderation.withdrawn(relative):
        raise ApiError("content_blocked", "This content was withdrawn by content moderation and is no longer "
                       "available.")
    raise ApiError("not_found", "No such media file (results are kept for a limited time).")
