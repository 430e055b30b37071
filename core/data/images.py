"""Images from users and packs: safe decoding (size caps against decompression bombs) and the
one thumbnail maker the loaders, the pack builders and the dashboard share."""

from __future__ import annotations

import io
import os
import stat
import warnings

from ..errors import InvalidInputError

# Pillow's own guard stops at 2 x 89 M pixels; a photo for labeling never needs more than this.
MAX_IMAGE_PIXELS = 50_000_000
# An uncompressed 50 M pixel RGB bitmap is 150 MB; no image file needs more than this.
MAX_IMAGE_FILE_BYTES = 256 * 2**20


def open_image(item, *, where: str = "image"):
    """Open ``item`` (path, bytes or PIL image) as an RGB PIL image, EXIF rotation applied.

    Raises
    ------
    InvalidInputError
        If the file is missing or unreadable, is not an image, or has more than
        :data:`MAX_IMAGE_PIXELS` pixels (a decompression bomb).
    """
    from PIL import Image, ImageOps

    if isinstance(item, Image.Image):
        image = item
    else:
        data = _image_bytes(item, where=where)
        image = _decode(data, where=where)
    try:
        image = ImageOps.exif_transpose(image)
        return image.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidInputError(f"{where} could not be decoded: {exc}") from exc


def _image_bytes(item, *, where: str) -> bytes:
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str | os.PathLike):
        try:
            info = os.stat(item)  # before opening: opening a FIFO blocks until a writer comes
            if not stat.S_ISREG(info.st_mode):  # and /dev/zero never ends
                raise InvalidInputError(f"{where}: {item} is not a regular file")
            if info.st_size > MAX_IMAGE_FILE_BYTES:
                raise InvalidInputError(
                    f"{where}: {item} is {info.st_size / 2**20:,.0f} MB, more than the "
                    f"{MAX_IMAGE_FILE_BYTES // 2**20} MB an image file may have")
            with open(item, "rb") as handle:
                return handle.read(MAX_IMAGE_FILE_BYTES + 1)
        except OSError as exc:
            raise InvalidInputError(f"{where}: cannot read image file {item}: {exc}") from exc
    raise InvalidInputError(
        f"{where}: expected an image path, image bytes or a PIL image, got {type(item).__name__}"
    )


def _decode(data: bytes, *, where: str):
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InvalidInputError(
                    f"{where} is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                    "allowed (a decompression bomb?); shrink it first"
                )
            image.load()
    except InvalidInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidInputError(f"{where} is too large to decode safely: {exc}") from exc
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as exc:
        raise InvalidInputError(f"{where} is not a readable image: {exc}") from exc
    return image


def thumbnail_jpeg(item, px: int, *, quality: int = 80, optimize: bool = False,
                   where: str = "image") -> bytes:
    """JPEG bytes of ``item`` (path, bytes or PIL image) shrunk so its longer side is at most
    ``px`` (never enlarged), with Lanczos resampling.

    Deterministic for the same input and settings, so packs rebuild byte-identically.
    """
    from PIL import Image

    image = open_image(item, where=where).copy()
    image.thumbnail((px, px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=optimize)
    return buffer.getvalue()


def display_jpeg(item, px: int, *, quality: int = 90, where: str = "image") -> bytes:
    """Bytes to show ``item`` (path or bytes) at its own size when it is small: the original
    file when it is a JPEG whose longer side is at most ``px`` and that needs no EXIF rotation
    (no second lossy encoding, and no bytes spent); otherwise :func:`thumbnail_jpeg` at
    ``px`` and ``quality``. The original is decoded once either way, so a broken or hostile
    file is refused as :func:`open_image` refuses it.
    """
    data = _image_bytes(item, where=where)
    image = _decode(data, where=where)
    orientation = image.getexif().get(0x0112, 1)  # EXIF Orientation; 1 = as stored
    if image.format == "JPEG" and max(image.size) <= px and orientation == 1 \
            and image.mode in ("RGB", "L"):
        return data
    return thumbnail_jpeg(image, px, quality=quality, optimize=True, where=where)
