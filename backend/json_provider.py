"""JSON in and out, strictly: before any view, a request body is refused as a bad request when it is not valid
JSON, nests objects and arrays deeper than MAX_NESTING, or holds text that no database column can store (a lone
surrogate such as \\ud800, or a NUL character); so are query parameters and form fields with such text, naming the
field."""
from apiflask.schema_adapters.marshmallow import parser
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest

from backend.errors import ApiError

MAX_NESTING = 32  # objects and arrays inside one another; the API's bodies need three or four


class RefusedDocument(ValueError):
    """A decoded document the API refuses: a string no UTF-8 text column can store (a lone surrogate, or a NUL,
    which PostgreSQL refuses), or objects and arrays nested deeper than MAX_NESTING."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def check_document(value, field=None):
    """Raise RefusedDocument if a string is not storable text or a document nests deeper than MAX_NESTING; in a
    decoded JSON document every key and value is checked, and the error names the field (`stickers[2].text`)."""
    stack = [(value, field, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise RefusedDocument(f"{where or 'The body'} holds a NUL character (\\u0000), which cannot be "
                                      "stored.", where)
            if not item.isascii():  # ASCII (flagged by Python itself, no scan) is always storable
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise RefusedDocument(f"{where or 'The body'} holds invalid Unicode (a lone surrogate such as "
                                          "\\ud800).", where) from None
        elif isinstance(item, (dict, list)):
            if depth == MAX_NESTING:
                raise RefusedDocument(f"The JSON body nests objects and arrays more than {MAX_NESTING} deep.", where)
            if isinstance(item, dict):
                for key, inner in item.items():
                    name = f"{where}.{key}" if where else str(key)
                    stack.extend(((key, name, depth), (inner, name, depth + 1)))
            else:
                stack.extend((inner, f"{where}[{index}]", depth + 1) for index, inner in enumerate(item))
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with every decoded string checked for storable text."""

    def loads(self, s, **kwargs):
        return check_document(super().loads(s, **kwargs))


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
        try:
            request.get_json(silent=False)
        except RecursionError:  # nested beyond the decoder's own stack (thousands deep): the same 400
            raise ApiError("invalid_request", f"The JSON body nests more than {MAX_NESTING} deep.") from None
        except BadRequest as error:
            reason = _cause(error)
            if isinstance(reason, RefusedDocument):
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
        check_document(value, name)
    except RefusedDocument as error:
        raise ApiError("invalid_request", str(error), error.field) from None


@parser.location_loader("json")
def _decoded_json(req, schema):
    """APIFlask's inputs (webargs) would decode a JSON body again from its raw bytes; they read the body that
    parse_json_body decoded once, strictly (an empty or odd body still goes to webargs' own loader)."""
    if req.is_json and req.content_length and req.method in ("POST", "PUT", "PATCH", "DELETE"):
        return req.get_json(silent=True)  # Werkzeug's cached decode: no second parse
    return parser.load_json(req, schema)
