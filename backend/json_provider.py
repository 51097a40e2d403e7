"""JSON in and out, strictly: before any view, a request body is refused as a bad request when it is not valid
JSON, nests objects and arrays deeper than MAX_NESTING (checked before it is decoded), or holds text that no
database column can store (a lone surrogate such as \\ud800, or a NUL character); so are query parameters and
form fields with such text, naming the field."""
import re

from apiflask.schema_adapters.marshmallow import parser
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

from backend.errors import ApiError

MAX_NESTING = 32  # objects and arrays inside one another; the API's bodies need three or four
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class UnstorableText(ValueError):
    """A string no UTF-8 text column can store: a lone surrogate, or a NUL (PostgreSQL refuses it)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def check_text(value, field=None):
    """Raise UnstorableText if a string is not storable text; in a decoded JSON document every key and value is
    checked, and the error names the field (`stickers[2].text`)."""
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnstorableText(f"{where or 'The body'} holds a NUL character (\\u0000), which cannot be stored.",
                                     where)
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnstorableText(f"{where or 'The body'} holds invalid Unicode (a lone surrogate such as "
                                     "\\ud800).", where) from None
        elif isinstance(item, dict):
            for key, inner in item.items():
                name = f"{where}.{key}" if where else str(key)
                stack.extend(((key, name), (inner, name)))
        elif isinstance(item, list):
            stack.extend((inner, f"{where}[{index}]") for index, inner in enumerate(item))
    return value


def check_nesting(data):
    """Raise ApiError if a JSON body nests objects and arrays deeper than MAX_NESTING, before it is decoded (a
    deep document would exhaust the decoder's recursion)."""
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        return  # it cannot nest deeper: the common case, decided at C speed
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', data)):
        depth += 1 if bracket in b"[{" else -1
        if depth > MAX_NESTING:
            raise ApiError("invalid_request", f"The JSON body nests objects and arrays more than {MAX_NESTING} "
                           "deep.")


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with every decoded string checked for storable text."""

    def loads(self, s, **kwargs):
        return check_text(super().loads(s, **kwargs))


def parse_json_body():
    """Before every request: the path and query parameters hold storable text, and a JSON body is decoded once,
    strictly, so that no view (nor a library that decodes the raw body again) ever sees invalid JSON or text
    that cannot be stored; those are 400 invalid_request, naming the field."""
    if "\x00" in request.path:
        raise ApiError("not_found", "No such path.")
    for name, value in request.args.items(multi=True):
        _checked(value, name)
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in request.form.items(multi=True):
            _checked(value, name)
    if request.is_json and request.content_length != 0 and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        check_nesting(request.get_data(cache=True))
        try:
            request.get_json(silent=False)
        except RecursionError:  # a nesting check_nesting could not see (it strips strings first): still a 400
            raise ApiError("invalid_request", f"The JSON body nests more than {MAX_NESTING} deep.") from None
        except BadRequest as error:
            reason = _cause(error)
            if isinstance(reason, UnstorableText):
                raise ApiError("invalid_request", str(reason), reason.field) from None
            raise ApiError("invalid_request", f"The body is not valid JSON ({reason}).") from None


def _cause(error):
    """The decoding error behind the BadRequest Flask and Werkzeug wrap it in (each `raise ... from` the one
    before)."""
    while isinstance(error, BadRequest) and (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    return error


def _checked(value, name):
    try:
        check_text(value, name)
    except UnstorableText as error:
        raise ApiError("invalid_request", str(error), error.field) from None


@parser.location_loader("json")
def _decoded_json(req, schema):
    """APIFlask's inputs (webargs) would decode a JSON body again from its raw bytes; they read the body that
    parse_json_body decoded once, strictly (an empty or odd body still goes to webargs' own loader)."""
    if req.is_json and req.content_length and req.method in ("POST", "PUT", "PATCH", "DELETE"):
        return req.get_json(silent=True)  # Werkzeug's cached decode: no second parse
    return parser.load_json(req, schema)
