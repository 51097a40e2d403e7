"""One error shape for the whole API: `{"success": false, "error": {code, message, field}}`."""
from apiflask import HTTPError
from flask import jsonify
from werkzeug.exceptions import HTTPException

# Default status per error code; services raise ApiError(code, message) and the
# status follows from the code, so a code can never travel with the wrong status.
STATUS_BY_CODE = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "gone": 410,
    "content_blocked": 410,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "uri_too_long": 414,
    "unsupported_media": 415,
    "invalid_audio": 422,
    "audio_too_short": 422,
    "audio_too_long": 422,
    "invalid_image": 422,
    "no_face_detected": 422,
    "text_too_long": 422,
    "content_rejected": 422,
    "consent_required": 422,
    "consent_mismatch": 422,
    "consent_pending": 409,
    "insufficient_tokens": 402,
    "rate_limited": 429,
    "idempotency_conflict": 422,
    "idempotency_in_progress": 409,
    "wechat_unavailable": 503,
    "engine_unavailable": 503,
    "canceled": 409,
    "engine_failed": 500,
    "internal_error": 500,
    "service_unavailable": 503,
}

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    410: "gone",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media",
    422: "invalid_request",
    429: "rate_limited",
    503: "service_unavailable",
}


def input_refused(code):
    """True for an error code that refuses what the user sent (no face in the photo, bad audio...): a job
    failing with it was handled, not a failure of the service."""
    return code is not None and STATUS_BY_CODE.get(code, 500) < 500


class ApiError(Exception):
    """An error the client can act on: a code from API.md, a message, the offending field."""

    def __init__(self, code, message, field=None, status=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.status = status or STATUS_BY_CODE[code]
        self.headers = headers or {}


def error_response(status, code, message, field=None, headers=None):
    """Build the JSON error response; every error handler goes through here."""
    body = {"success": False, "error": {"code": code, "message": message, "field": field}}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_field(detail):
    """The first field named by an APIFlask/marshmallow validation error, if any."""
    for location in (detail or {}).values():
        if isinstance(location, dict) and location:
            name, messages = next(iter(location.items()))
            return name, "; ".join(messages) if isinstance(messages, list) else str(messages)
    return None, None


def register_error_handlers(app):
    """Route ApiError, APIFlask HTTPError, werkzeug errors and crashes to error_response."""

    @app.errorhandler(ApiError)
    def handle_api_error(error):
        return error_response(error.status, error.code, error.message, error.field, error.headers)

    @app.error_processor
    def handle_http_error(error: HTTPError):
        field, detail = _validation_field(error.detail)
        code = (error.extra_data or {}).get("code") or _CODE_BY_STATUS.get(error.status_code, "internal_error")
        message = f"{field}: {detail}" if field else error.message
        return error_response(error.status_code, code, message, field, error.headers)

    @app.errorhandler(HTTPException)
    def handle_werkzeug_error(error):
        status = error.code or 500
        code = _CODE_BY_STATUS.get(status, "internal_error")
        allow = {name: value for name, value in error.get_headers() if name == "Allow"}
        return error_response(status, code, error.description or error.name, headers=allow)

    @app.errorhandler(Exception)
    def handle_crash(error):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; please retry.")
