"""Open a picture a resident sent, within bounds: no decompression bomb, no unbounded decode, no crash.

Every failure is an ``Unreadable`` with a ``reason`` the reply can name kindly:
``empty``, ``too_big`` (bytes), ``not_image``, ``truncated``, ``too_many_pixels``.
An animated GIF or WebP is read by its first frame. A large photo is decoded reduced (JPEG's draft mode
decodes at 1/2, 1/4 or 1/8 directly) and scaled so its longer side is at most ``max_side``.
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

MAX_BYTES = 20_000_000
MAX_PIXELS = 60_000_000  # a 50-megapixel phone photo is read; beyond this the picture is refused unread
MAX_SIDE = 2400  # longer side after scaling: a phone screenshot's own height


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_pixels: int = MAX_PIXELS
    max_side: int = MAX_SIDE


class Unreadable(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def open_image(data: bytes, limits: Limits = Limits()):
    """The picture as an RGB ``PIL.Image``, at most ``limits.max_side`` on its longer side."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    if not data:
        raise Unreadable("empty")
    if len(data) > limits.max_bytes:
        raise Unreadable("too_big", f"{len(data)} bytes")
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))  # reads the header only
            width, height = image.size
            if width * height > limits.max_pixels or width <= 0 or height <= 0:
                raise Unreadable("too_many_pixels", f"{width}×{height}")
            if getattr(image, "n_frames", 1) > 1:
                image.seek(0)  # an animated GIF or WebP: its first frame
            if image.format == "JPEG":
                image.draft("RGB", (limits.max_side, limits.max_side))
            image.load()
        except Unreadable:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Unreadable("too_many_pixels", str(exc)) from None
        except UnidentifiedImageError:
            raise Unreadable("not_image") from None
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            # Pillow's truncated or corrupt files ("image file is truncated", broken PNG chunks, bad GIF LZW)
            raise Unreadable("truncated", str(exc)[:120]) from None
    image = _flatten(image)
    if max(image.size) > limits.max_side:
        image.thumbnail((limits.max_side, limits.max_side), Image.BILINEAR)
    return image


def _flatten(image):
    """RGB on white: a transparent PNG or a palette GIF reads like the screen it came from."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        canvas = Image.new("RGB", image.size, (255, 255, 255))
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image
