"""What /openapi.json and /docs say: the real error envelope on every error status each operation can
return, multipart bodies beside JSON, the Idempotency-Key header, and Swagger UI served from the stack."""
from pathlib import Path

from flask import Blueprint, send_from_directory

from backend.schemas import ErrorOut
from backend.services.media.audio import MIME

# Statuses any operation can answer: malformed JSON or invalid Unicode (400), a body over the limit (413,
# from Nginx), our failure (500), overload or a dependency down (503).
ANY = (400, 413, 500, 503)
AUTHENTICATED = (401, 403)
# Extra statuses per operation, beyond ANY (and AUTHENTICATED where the operation needs a token).
STATUSES = {
    ("post", "/api/v1/auth/login"): (422, 429),
    ("post", "/api/v1/auth/refresh"): (401, 403, 422, 429),
    ("get", "/api/v1/me"): (),
    ("get", "/api/v1/me/ledger"): (422,),
    ("delete", "/api/v1/me"): (),
    ("get", "/api/v1/me/export"): (429,),
    ("post", "/api/v1/voices"): (415, 422, 429),
    ("get", "/api/v1/voices"): (),
    ("get", "/api/v1/voices/consent"): (),
    ("delete", "/api/v1/voices/{voice_id}"): (404,),
    ("post", "/api/v1/tts"): (402, 404, 415, 422, 429, 503),
    ("post", "/tts"): (402, 404, 415, 422, 429, 503),
    ("post", "/api/v1/emoji"): (402, 404, 415, 422, 429, 503),
    ("post", "/api/v1/swap"): (402, 404, 415, 422, 429, 503),
    ("get", "/api/v1/templates"): (),
    ("get", "/api/v1/emotions"): (),
    ("post", "/api/v1/packs"): (402, 404, 415, 422, 429, 503),
    ("post", "/api/v1/tts/stream"): (402, 404, 415, 422, 429, 503),
    ("post", "/api/v1/talking-stickers"): (402, 404, 415, 422, 429, 503),
    ("get", "/api/v1/packs/{task_id}/export"): (404, 410),
    ("post", "/v1/audio/speech"): (402, 404, 415, 422, 429, 503),
    ("post", "/api/v1/reports"): (404, 422, 429),
    ("get", "/api/v1/tasks"): (422,),
    ("get", "/api/v1/tasks/{task_id}"): (404, 422),
    ("delete", "/api/v1/tasks/{task_id}"): (404,),
    ("post", "/api/v1/admin/recharges"): (409, 415, 422),
    ("get", "/api/v1/wechat/push"): (403, 422),
    ("post", "/api/v1/wechat/push"): (403, 404, 422),
    ("get", "/api/v1/wechat/media/{check_id}"): (404, 422),
    ("get", "/healthz"): (),
    ("get", "/readyz"): (),
}
PUBLIC = {("get", "/api/v1/emotions"), ("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh"), ("get", "/healthz"),
          ("get", "/readyz"), ("get", "/api/v1/wechat/push"), ("post", "/api/v1/wechat/push"),
          ("get", "/api/v1/wechat/media/{check_id}")}
# Operations whose body may also come as multipart/form-data (wx.uploadFile), and their file fields.
MULTIPART_FILES = {
    ("post", "/api/v1/voices"): ("audio",),
    ("post", "/api/v1/tts"): ("prompt_audio",),
    ("post", "/api/v1/tts/stream"): ("prompt_audio",),
    ("post", "/api/v1/emoji"): ("image",),
    ("post", "/api/v1/swap"): ("source_image", "target_image"),
}
SPEECH_MIMES = tuple(dict.fromkeys(MIME.values()))  # what /v1/audio/speech answers, per response_format
WAV_B64 = "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAgD4AAAB9AAACABAAZGF0YQAAAAA="
PNG_B64 = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
EXAMPLES = {
    ("post", "/api/v1/auth/login"): {"code": "0a3Xk2ll2yXgNb0ZqQ0w3QvYQ52Xk2lX"},
    ("post", "/api/v1/auth/refresh"): {"refresh_token": "m1Gq9yR0d0xWlqX2yS3n4J5k6L7m8N9o0P1q2R3s4T5"},
    ("post", "/api/v1/voices"): {"audio": WAV_B64, "audio_format": "wav", "prompt_text": "我们今天去公园玩",
                                 "name": "我的声音"},
    ("post", "/api/v1/tts"): {"text": "今天天气真好", "voice_id": "v_0123456789abcdef01234567", "mode": "instruct",
                              "instruct": "用四川话说", "speed": 1.0, "format": "mp3"},
    ("post", "/tts"): {"text": "今天天气真好", "prompt_audio": WAV_B64, "mode": "zero_shot"},
    ("post", "/api/v1/emoji"): {"template_id": "panda", "text": "开心大笑", "style": "panda", "animated": False},
    ("post", "/api/v1/swap"): {"source_image": PNG_B64, "template_id": "astronaut", "blend": 1.0},
    ("post", "/v1/audio/speech"): {"model": "tts-1", "voice": "v_0123456789abcdef01234567", "input": "今天天气真好",
                                   "response_format": "mp3", "instructions": "开心地说"},
    ("post", "/api/v1/admin/recharges"): {"items": [{"user": "u_0123456789abcdef01234567", "amount": 10}],
                                          "reason": "活动赠送"},
}
# Job-creating operations answer 202 (queued) or 200 (finished within ?wait, or the user's own cache hit).
BOTH_200_AND_202 = {("post", "/api/v1/packs"), ("post", "/api/v1/talking-stickers"), ("post", "/api/v1/tts"), ("post", "/api/v1/emoji"),
                    ("post", "/api/v1/swap"), ("post", "/tts")}
IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": True,
                   "description": "1-255 characters; reuse it when retrying the same batch",
                   "schema": {"type": "string", "minLength": 1, "maxLength": 255}}
ERROR_DESCRIPTIONS = {400: "Malformed request", 401: "Missing, invalid or expired token", 402: "Not enough tokens",
                      403: "Blocked account or missing scope", 404: "Not found (for this user)",
                      409: "A request with this Idempotency-Key is in progress", 413: "Too large",
                      410: "Deleted, or withdrawn by moderation", 415: "Unsupported media", 422: "Invalid field", 429: "Rate limited",
                      500: "Our failure; retry", 503: "Busy or a dependency is down; retry"}

assets = Blueprint("docs_assets", __name__)


def swagger_ui_dir():
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


@assets.get("/docs/assets/<path:name>")
def swagger_asset(name):
    """Swagger UI's files, from the swagger-ui-bundle package: /docs works with no internet."""
    return send_from_directory(swagger_ui_dir(), name, max_age=86400)


def init_app(app):
    """Error schema, local Swagger UI assets, and the spec processor that completes each operation."""
    app.config.update(
        OPENAPI_VERSION="3.0.3",  # what the bundled Swagger UI (4.x) renders; Schemathesis reads it too
        HTTP_ERROR_SCHEMA=ErrorOut, VALIDATION_ERROR_SCHEMA=ErrorOut,
        SWAGGER_UI_CSS="/docs/assets/swagger-ui.css", SWAGGER_UI_BUNDLE_JS="/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/docs/assets/swagger-ui-standalone-preset.js",
        DOCS_FAVICON="/docs/assets/favicon-32x32.png",
    )
    app.register_blueprint(assets)
    app.spec_processor(complete_spec)


def complete_spec(spec):
    """Every operation: its error statuses with the error envelope; multipart bodies; the Idempotency-Key."""
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            key = (method, path)
            statuses = set(ANY) | set(STATUSES.get(key, ()))
            if key not in PUBLIC:
                statuses |= set(AUTHENTICATED)
            responses = operation.setdefault("responses", {})
            if key in BOTH_200_AND_202:
                success = responses.get("202") or responses.get("200")
                responses["200"] = {**success, "description": "Finished (within ?wait, or your own cache hit)"}
                responses["202"] = {**success, "description": "Accepted: poll GET /api/v1/tasks/{task_id}"}
            for status in sorted(statuses):
                responses[str(status)] = {"description": ERROR_DESCRIPTIONS[status],
                                          "content": {"application/json": {"schema": error_ref}}}
            for status, response in responses.items():  # APIFlask's own 401/404/422 entries use it too
                if int(status) >= 400:
                    response["content"] = {"application/json": {"schema": error_ref}}
            json_body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if json_body is not None and key in EXAMPLES:
                json_body["example"] = EXAMPLES[key]
            if key in MULTIPART_FILES:
                _add_multipart(operation, MULTIPART_FILES[key])
            if key == ("post", "/v1/audio/speech"):
                binary = {"schema": {"type": "string", "format": "binary"}}
                responses["200"]["content"] = {mime: binary for mime in SPEECH_MIMES}
            if key == ("post", "/api/v1/admin/recharges"):
                operation.setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    spec["components"]["schemas"].pop("HTTPError", None)
    spec["components"]["schemas"].pop("ValidationError", None)
    return spec


def _add_multipart(operation, file_fields):
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return
    schema = {"allOf": [body["schema"], {"type": "object", "properties": {
        name: {"type": "string", "format": "binary"} for name in file_fields}}]}
    operation["requestBody"]["content"]["multipart/form-data"] = {"schema": schema}
