"""Turn an HTTP request body into an image, the same way for FastAPI and AWS Lambda.

Accepted: multipart/form-data (a file field, any name), JSON `{"image": "<base64>",
"mode": "auto|char|line|page"}` (a data: URL prefix is fine), or a raw image body (image/*,
application/octet-stream). Every bad input is an ApiError with a 4xx status and one clear line.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from PIL import Image

from textrec_cli import settings
from textrec_cli.errors import InputError, LimitError
from textrec_cli.image_io import load_image_bytes

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")
RAW_TYPES = ("image/", "application/octet-stream")


class ApiError(Exception):
    """A client error: the status to answer and a one-line message for `{"error": ...}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Request limits; the defaults follow `settings` (and its environment variables).

    Sized for page photos: a 12 MP phone JPEG is 2-6 MB and a page scan PNG up to ~15 MB; 40 MP
    (`settings.MAX_IMAGE_PIXELS`) decodes to ~120 MB of RGB, the most one request may hold.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = settings.MAX_IMAGE_PIXELS
    formats: tuple[str, ...] = ALLOWED_FORMATS


@dataclass
class ImageRequest:
    image: Image.Image
    name: str
    mode: str | None = None  # from the JSON body; a query parameter may also set it


def parse_body(body: bytes, content_type: str | None, limits: Limits) -> ImageRequest:
    """Body + Content-Type -> decoded image, or ApiError (400, 413, 415, 422)."""
    if len(body) > limits.max_bytes:
        raise ApiError(413, f"request body is {len(body)} bytes, over the {limits.max_bytes} limit")
    if not body:
        raise ApiError(400, "empty request body: send an image (multipart, JSON or raw)")
    media = (content_type or "").split(";")[0].strip().lower()
    mode = None
    if media == "multipart/form-data":
        data, name = _multipart_file(body, content_type or "")
    elif media == "application/json":
        data, mode = _json_image(body)
        name = "upload"
    elif media.startswith(RAW_TYPES):
        data, name = body, "upload"
    else:
        raise ApiError(
            415,
            f"unsupported content type {media or '(none)'!r}: use multipart/form-data, "
            "application/json or an image/* body",
        )
    return ImageRequest(decode_image(data, name, limits), name, mode)


def decode_image(data: bytes, name: str, limits: Limits) -> Image.Image:
    try:
        return load_image_bytes(
            data,
            name,
            max_pixels=limits.max_pixels,
            max_bytes=limits.max_bytes,
            formats=limits.formats,
        )
    except LimitError as exc:
        raise ApiError(413, str(exc)) from None
    except InputError as exc:
        raise ApiError(400, str(exc)) from None


def json_object(body: bytes, not_an_object: str) -> dict:
    """The body as a JSON object: 400 when it is not JSON, 422 (`not_an_object`) when it is
    JSON of another shape."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(422, not_an_object)
    return payload


def _json_image(body: bytes) -> tuple[bytes, str | None]:
    payload = json_object(body, 'JSON body must be an object like {"image": "<base64>"}')
    encoded = payload.get("image")
    if encoded is None:
        raise ApiError(422, 'missing field "image" (base64-encoded image bytes)')
    if not isinstance(encoded, str):
        raise ApiError(422, 'field "image" must be a base64 string')
    mode = payload.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise ApiError(422, 'field "mode" must be a string: auto, char, line or page')
    if encoded.startswith("data:") and "," in encoded:
        encoded = encoded.split(",", 1)[1]  # data:image/png;base64,....
    try:
        return base64.b64decode(encoded, validate=True), mode
    except (binascii.Error, ValueError):
        raise ApiError(400, 'field "image" is not valid base64') from None


def _multipart_file(body: bytes, content_type: str) -> tuple[bytes, str]:
    """The first file part of a multipart body (python-multipart's streaming parser)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "multipart body without a boundary")
    parts: list[dict] = []
    header: dict[str, bytes] = {}

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] = header.get("field", b"") + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] = header.get("value", b"") + data[start:end]

    def on_header_end() -> None:
        key = header.pop("field", b"").decode("latin-1").lower()
        parts[-1]["headers"][key] = header.pop("value", b"")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += data[start:end]

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except Exception as exc:  # python-multipart raises its own error types
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get("content-disposition", b""))
        if b"filename" in disposition:
            filename = disposition[b"filename"].decode("utf-8", "replace") or "upload"
            return bytes(part["data"]), filename
    raise ApiError(422, "multipart body has no file part (send the image as a file field)")
