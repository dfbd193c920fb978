"""Open user images defensively: every way a file can be wrong becomes one clear InputError."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from textrec_cli import settings
from textrec_cli.errors import InputError, LimitError

# textrec checks the pixel count itself from the header (below, with a clear message); PIL's own
# bomb check would fire first with a generic one.
Image.MAX_IMAGE_PIXELS = None


def load_image(
    path: str | Path, max_pixels: int | None = None, max_bytes: int | None = None
) -> Image.Image:
    """Decode an image file fully (so truncation is caught here, not inside the model)."""
    path = Path(path)
    max_pixels = max_pixels or settings.MAX_IMAGE_PIXELS
    max_bytes = max_bytes or settings.MAX_IMAGE_BYTES
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: empty file")
    if size > max_bytes:
        raise LimitError(f"{path}: file is {size} bytes, over the {max_bytes}-byte limit")
    return _decode(path, str(path), max_pixels)


def load_image_bytes(
    data: bytes,
    name: str = "upload",
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    formats: tuple[str, ...] | None = None,
) -> Image.Image:
    """Decode an uploaded image with the same limits as files; `formats` (PIL names such as
    "PNG") restricts the decoders a server exposes to untrusted bytes."""
    max_pixels = max_pixels or settings.MAX_IMAGE_PIXELS
    max_bytes = max_bytes or settings.MAX_IMAGE_BYTES
    if not data:
        raise InputError(f"{name}: empty image")
    if len(data) > max_bytes:
        raise LimitError(f"{name}: image is {len(data)} bytes, over the {max_bytes}-byte limit")
    return _decode(io.BytesIO(data), name, max_pixels, formats)


def _decode(
    source: Path | io.BytesIO, name: str, max_pixels: int, formats: tuple[str, ...] | None = None
) -> Image.Image:
    """Check the pixel count from the header, then decode every pixel."""
    try:
        image = Image.open(source, formats=formats)
        width, height = image.size  # read from the header, before decoding any pixels
        if width * height > max_pixels:
            raise LimitError(
                f"{name}: image is {width}x{height} pixels, over the {max_pixels}-pixel limit"
            )
        if image.format in ("JPEG", "MPO"):
            _check_jpeg_scans(source, name)
        image.load()
    except InputError:
        raise
    except UnidentifiedImageError:
        allowed = f" (allowed: {', '.join(formats)})" if formats else ""
        raise InputError(f"{name}: not an image file (or an unsupported format){allowed}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{name}: truncated or corrupt image ({exc})") from None
    if width == 0 or height == 0:
        raise InputError(f"{name}: image has no pixels")
    # phone photos store their rotation in EXIF: read the page the way the user sees it
    return ImageOps.exif_transpose(image)


def jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers (FF DA) in a JPEG's bytes: an upper bound on its scans, since
    entropy-coded data stuffs every FF with 00 and only metadata could hold a stray pair."""
    return data.count(b"\xff\xda")


def _check_jpeg_scans(source: Path | io.BytesIO, name: str) -> None:
    """Refuse a progressive-JPEG scan bomb before decoding: every scan re-decodes the image."""
    data = source.getvalue() if isinstance(source, io.BytesIO) else Path(source).read_bytes()
    scans = jpeg_scans(data)
    if scans > settings.MAX_JPEG_SCANS:
        raise LimitError(
            f"{name}: JPEG has {scans} scans, over the {settings.MAX_JPEG_SCANS}-scan limit "
            "(a progressive-JPEG decoding bomb?)"
        )
