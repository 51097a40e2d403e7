"""Request bodies that come as JSON (base64 uploads) or multipart (wx.uploadFile), read one way."""
import base64
import binascii
import re

from flask import request
from marshmallow import EXCLUDE, ValidationError

from backend.errors import ApiError

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
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError("invalid_request", "The body must be a JSON object.")
    return data


def load(schema, fields):
    """Validate fields with a marshmallow schema; the first problem becomes invalid_request."""
    scalars = {k: v for k, v in fields.items() if not isinstance(v, Upload)}
    try:
        return schema.load(scalars, unknown=EXCLUDE)
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
        text = _DATA_URL.sub("", value.strip(), count=1)
        if len(text) > (max_bytes + 2) * 4 // 3 + 4:
            raise ApiError("payload_too_large", f"{name} is larger than {max_bytes // (1024 * 1024)} MB.", name)
        try:
            data = base64.b64decode(re.sub(r"\s+", "", text), validate=True)
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
