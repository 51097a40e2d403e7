"""Request bodies that come as JSON (base64 uploads) or multipart (wx.uploadFile), read one way."""
import base64
import binascii
import functools
import re

from flask import request
from marshmallow import EXCLUDE, ValidationError

from backend.errors import ApiError
from backend.schemas import Text

_DATA_URL = re.compile(r"^data:[\w.+/-]+(;[\w=.-]+)*;base64,", re.IGNORECASE)


class Upload(bytes):
    """Bytes of a multipart file part (distinguishes them from base64 text)."""


def body_fields(file_fields, max_file_bytes):
    """The request's fields as a dict; file parts become Upload bytes (at most max_file_bytes)."""
    if request.mimetype == "multipart/form-data" or request.mimetype == "application/x-www-form-urlencoded":
        fields = request.form.to_dict()
        for name in file_fields:
            part = request.files.get(name)
            if part is not None:
                data = part.stream.read(max_file_bytes + 1)
                _check_size(data, name, max_file_bytes)
                fields[name] = Upload(data)
        return fields
    if request.mimetype != "application/json":
        raise ApiError("unsupported_media", "Send JSON (application/json) or multipart/form-data.")
    return json_object()


def json_object():
    """The request's JSON body, which must be an object (checked for valid JSON and Unicode before the view, so
    this reads what json_provider.parse_json_body decoded: Werkzeug keeps one decoded body per `silent`)."""
    data = request.get_json(silent=False) if request.content_length != 0 else None
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.")
    return data


@functools.cache
def _schema(schema_class):
    return schema_class()  # built once per process: loading with it keeps no state


def load(schema_class, fields, partial=None):
    """Validate fields with a marshmallow schema (its class); the first problem becomes invalid_request.

    Free-text fields (schemas.Text) are measured first, before anything else reads them: too long is 422
    text_too_long, whatever normalisation would later do to the text."""
    schema = _schema(schema_class)
    scalars = {k: v for k, v in fields.items() if not isinstance(v, Upload)}
    for name, field in schema.fields.items():
        value = scalars.get(field.data_key or name)
        if isinstance(field, Text) and isinstance(value, str):
            _check_chars(value, field.max_chars, name)
    try:
        return schema.load(scalars, unknown=EXCLUDE, partial=partial)
    except ValidationError as error:
        name, messages = next(iter(error.normalized_messages().items()))
        detail = "; ".join(messages) if isinstance(messages, list) else str(messages)
        raise ApiError("invalid_request", f"{name}: {detail}", name)


def file_bytes(fields, name, max_bytes, required=True):
    """An uploaded file's bytes from a multipart part or a base64 string (data: URLs allowed)."""
    value = fields.get(name)
    if value is None or value == "":
        if required:
            raise ApiError("invalid_request", f"{name} is required (base64 in JSON, or a multipart file).", name)
        return None
    if isinstance(value, Upload):
        data = bytes(value)
    elif isinstance(value, str):
        text = value.strip()
        prefix = _DATA_URL.match(text)
        text = text[prefix.end():] if prefix else text
        if len(text) > (max_bytes + 2) * 4 // 3 + 4:
            raise ApiError("payload_too_large", f"{name} is larger than {max_bytes // (1024 * 1024)} MB.", name)
        try:
            data = base64.b64decode("".join(text.split()), validate=True)  # line breaks and spaces allowed
        except (binascii.Error, ValueError):
            raise ApiError("invalid_request", f"{name} is not valid base64.", name)
    else:
        raise ApiError("invalid_request", f"{name} must be a base64 string or a file.", name)
    _check_size(data, name, max_bytes)
    if not data:
        raise ApiError("invalid_request", f"{name} is empty.", name)
    return data


def _check_size(data, name, max_bytes):
    if len(data) > max_bytes:
        raise ApiError("payload_too_large", f"{name} is larger than {max_bytes // (1024 * 1024)} MB.", name)


def typed_text(raw, max_chars, field):
    """The text as the user typed it (full-width punctuation kept: 「什么？！」 stays 「什么？！」), stripped of
    surrounding whitespace, at most max_chars characters. Matching that must see through width, case and
    traditional forms (moderation.normalize, emotions.normalized) works on its own normalized copy."""
    _check_chars(raw, max_chars, field)
    return raw.strip()


def _check_chars(text, max_chars, field):
    if len(text) > max_chars:
        raise ApiError("text_too_long", f"{field} has {len(text)} characters; the limit is {max_chars}.", field)
