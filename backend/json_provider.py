"""JSON in and out; request bodies with invalid Unicode (lone surrogates) are refused as bad requests."""
from apiflask.schema_adapters.marshmallow import parser
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

from backend.errors import ApiError


class InvalidUnicode(ValueError):
    """A JSON string holds a lone surrogate, which no UTF-8 text (or database) can store."""


def check_unicode(value):
    """Raise InvalidUnicode if any string (key or value) in a decoded JSON document is not valid Unicode."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidUnicode("The JSON body holds invalid Unicode (a lone surrogate such as \\ud800).")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with every decoded string checked for valid Unicode."""

    def loads(self, s, **kwargs):
        return check_unicode(super().loads(s, **kwargs))


def parse_json_body():
    """Before every request: a JSON body is decoded once, strictly, so that no view (nor a library that
    decodes the raw body again) ever sees invalid JSON or invalid Unicode; those are 400 invalid_request."""
    if request.is_json and request.content_length != 0 and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        try:
            request.get_json(silent=False)
        except BadRequest as error:
            reason = error.__cause__ or error.__context__
            message = str(reason) if isinstance(reason, InvalidUnicode) else f"The body is not valid JSON ({reason})."
            raise ApiError("invalid_request", message) from None


@parser.location_loader("json")
def _decoded_json(req, schema):
    """APIFlask's inputs (webargs) would decode a JSON body again from its raw bytes; they read the body that
    parse_json_body decoded once, strictly (an empty or odd body still goes to webargs' own loader)."""
    if req.is_json and req.content_length and req.method in ("POST", "PUT", "PATCH", "DELETE"):
        return req.get_json(silent=True)  # Werkzeug's cached decode: no second parse
    return parser.load_json(req, schema)
