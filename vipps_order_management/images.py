"""Product images made acceptable to Vipps: one square PNG or JPEG, at most 2 MB.

Vipps accepts PNG or JPEG, at least 167 pixels high and at most 2 MB, and recommends square
images. An ``imageId`` can never be overwritten, so ids are content-addressed: the SHA-256 of
the prepared bytes, which also makes a re-upload of the same picture a harmless duplicate.
That only works if preparing is deterministic, so every step below is (same input and Pillow
build, same bytes).

The pipeline of :func:`prepare_image`, with Pillow doing the work:

1. Refuse what is not worth decoding: empty input, input over ``max_input_bytes``.
2. Open with a whitelist of formats (JPEG, PNG, WEBP, GIF's first frame, BMP, TIFF). Opening
   reads only the header, so width x height is checked against our own pixel limit before
   any pixel is decoded (decompression bombs); images too small to enlarge are refused here.
3. Decode, letting JPEG's decoder scale down by 1/2, 1/4 or 1/8 (``draft``) as long as the
   result stays nearly twice the size needed (a 12 megapixel photo decodes at half size).
4. Normalise palette, 16-bit grey and the other exotic modes, and shrink so the longest side
   is at most ``max_side`` (``thumbnail``: ``reduce`` + bicubic). Only then apply the EXIF
   orientation and convert to RGB, or RGBA when transparency is real, turning an embedded
   ICC profile into sRGB (so Display-P3 or CMYK photos keep their colours; an sRGB profile
   needs nothing) before dropping it: both steps cost in proportion to the pixels, so they
   run on the fewest. The bound is square, so orienting last gives the same size.
5. Pad onto a square canvas (white, or transparent for RGBA) without cropping the product;
   small images are enlarged to ``min_height``.
6. Rebuild the image from its pixels alone, so no metadata can survive: EXIF (with GPS), XMP,
   ICC, comments, text chunks.
7. Encode: JPEG with stepwise lower quality, PNG optimised; if still over ``max_bytes``,
   repeat at a smaller size, never below ``min_height``. What cannot fit is refused.

:func:`make_collage` puts several products into one square grid image, because an order has
one image slot. Every refusal is an :class:`ImageValidationError` whose ``reason`` tells a shop
owner what to do. Nothing here does I/O (:mod:`.storage` reads stored images).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

try:
    from PIL import ImageCms
except ImportError:  # pragma: no cover - Pillow built without LittleCMS
    ImageCms = None  # type: ignore[assignment]

from .exceptions import ImageValidationError
from .payloads import Image as ImageUpload

__all__ = [
    "INPUT_FORMATS",
    "JPEG_QUALITIES",
    "MAX_BYTES",
    "MAX_COLLAGE_IMAGES",
    "MAX_INPUT_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MIN_HEIGHT",
    "MIN_SOURCE_SIDE",
    "PreparedImage",
    "make_collage",
    "prepare_image",
]

#: Vipps's limits: at most 2 MB, at least 167 pixels high.
MAX_BYTES = 2 * 1024 * 1024
MIN_HEIGHT = 167
#: Longest side of what we send: sharp on any phone, and small enough to stay far under 2 MB.
MAX_SIDE = 1024
#: A source whose shorter side is under this is refused rather than blown up into a blur.
MIN_SOURCE_SIDE = 100
#: Decoding 50 megapixels takes up to 200 MB of memory; a bigger product photo is a mistake
#: or an attack. Checked from the header, before decoding.
MAX_PIXELS = 50_000_000
#: Input bytes refused unread: a 50 megapixel JPEG is well under this.
MAX_INPUT_BYTES = 50 * 1024 * 1024
#: What we decode. Vipps wants PNG or JPEG; these others are common enough to convert.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
#: Tried in turn until the JPEG fits; below 50 artefacts show on product photos.
JPEG_QUALITIES = (90, 85, 80, 75, 70, 60, 50)
#: Each fallback size is this fraction of the previous one.
DOWNSCALE_STEP = 0.75
#: A collage shows at most a 3 x 3 grid; more products would be too small to recognise.
MAX_COLLAGE_IMAGES = 9

_LANCZOS = Image.Resampling.LANCZOS
#: The shrink from the decoded size, the costliest step after decoding. Pillow's bicubic, like
#: its Lanczos, widens to the reduction; on photos the two differ by under 1/255 on average,
#: and bicubic takes two thirds of the time.
_SHRINK = Image.Resampling.BICUBIC
#: JPEG's reduced decode scales each 8 x 8 block on its own, which turns fine regular patterns
#: (fabric, grilles) into moiré unless the shrink after it still nearly halves the size: why
#: Pillow's ``thumbnail`` keeps a gap of 2. Just under 2, so that 12 megapixel photos (4000
#: or 4032 pixels wide, a little under 2 x 2048) decode at half size too.
_DRAFT_GAP = 1.9
_WHITE = (255, 255, 255)
_TRANSPARENT = (255, 255, 255, 0)
#: The sign in "80 by 60 pixels" messages, named so linters do not take it for a letter x.
_BY = "\N{MULTIPLICATION SIGN}"
_CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png"}
#: EXIF orientation -> what turns the stored pixels upright (as ``ImageOps.exif_transpose``).
_TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_NOT_AN_IMAGE = (
    "The file is not an image (expected PNG or JPEG). Upload a product photo in PNG or JPEG format."
)
_DAMAGED = (
    "The image file is damaged or incomplete and could not be read. "
    "Upload the original file again, or save it anew as PNG or JPEG."
)


@dataclass(frozen=True)
class PreparedImage:
    """Bytes ready for ``POST /v1/images``; ``image_id`` is derived from them, never chosen."""

    data: bytes = field(repr=False)
    format: str  # "JPEG" or "PNG"
    width: int
    height: int

    @property
    def image_id(self) -> str:
        """SHA-256 hex of the bytes: 64 characters of ``[0-9a-f]``, stable across uploads."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self.format]

    def as_upload(self) -> ImageUpload:
        """The payload object the client's ``upload_image`` sends."""
        return ImageUpload(image_id=self.image_id, data=self.data)


def prepare_image(
    data: bytes,
    *,
    source: str = "",
    max_side: int = MAX_SIDE,
    max_bytes: int = MAX_BYTES,
    min_height: int = MIN_HEIGHT,
    max_pixels: int = MAX_PIXELS,
    min_source_side: int = MIN_SOURCE_SIDE,
    max_input_bytes: int = MAX_INPUT_BYTES,
) -> PreparedImage:
    """Turn any common product picture into one square image Vipps accepts.

    ``source`` (a file name) is carried into every error so a shop owner knows which file to
    replace. Raises :class:`ImageValidationError` when the input cannot be made valid.
    """
    _check_limits(max_side, min_height, max_bytes)
    image = _decode(
        data,
        box=max_side,
        source=source,
        min_height=min_height,
        max_pixels=max_pixels,
        min_source_side=min(min_source_side, min_height),
        max_input_bytes=max_input_bytes,
    )
    side = max(image.width, image.height, min_height)
    background = _TRANSPARENT if image.mode == "RGBA" else _WHITE
    canvas = ImageOps.pad(image, (side, side), method=_LANCZOS, color=background)
    return _encode(canvas, max_bytes=max_bytes, min_height=min_height, source=source)


def make_collage(
    images: Sequence[bytes],
    *,
    source: str = "",
    size: int = MAX_SIDE,
    gutter: int | None = None,
    max_bytes: int = MAX_BYTES,
    min_height: int = MIN_HEIGHT,
    max_pixels: int = MAX_PIXELS,
    min_source_side: int = MIN_SOURCE_SIDE,
    max_input_bytes: int = MAX_INPUT_BYTES,
) -> PreparedImage:
    """Show several products in one square image, since an order carries a single image.

    One image is handled exactly like :func:`prepare_image`. Two sit side by side, three or
    four fill a 2 x 2 grid, five to nine a 3 x 3 grid (an incomplete last row is centred);
    beyond nine only the first nine are used. Each product is padded, never cropped, onto
    its cell on a white background, so the result is always a JPEG. Errors name the input,
    e.g. ``"image 3 of 5: ..."``.
    """
    _check_limits(size, min_height, max_bytes)
    count = len(images)
    if count == 0:
        raise ImageValidationError("There are no product images to combine.", source=source)
    limits = {
        "min_height": min_height,
        "max_pixels": max_pixels,
        "min_source_side": min(min_source_side, min_height),
        "max_input_bytes": max_input_bytes,
    }
    if count == 1:
        return prepare_image(images[0], source=source, max_side=size, max_bytes=max_bytes, **limits)

    used = min(count, MAX_COLLAGE_IMAGES)
    cols, rows = (2, 1) if used == 2 else (2, 2) if used <= 4 else (3, 3)
    gap = max(2, size // 64) if gutter is None else gutter
    cell_w = (size - (cols + 1) * gap) // cols
    cell_h = (size - (rows + 1) * gap) // rows
    if cell_w < 1 or cell_h < 1:
        raise ValueError(f"gutter {gap} leaves no room for {cols}x{rows} tiles in {size} px")
    left = gap + (size - (cols + 1) * gap - cols * cell_w) // 2
    top = gap + (size - (rows + 1) * gap - rows * cell_h) // 2

    canvas = Image.new("RGB", (size, size), _WHITE)
    for index in range(used):
        try:
            tile = _decode(images[index], box=max(cell_w, cell_h), source="", **limits)
        except ImageValidationError as exc:
            raise ImageValidationError(
                f"image {index + 1} of {count}: {exc.reason}", source=source
            ) from exc
        tile = _flatten(ImageOps.contain(tile, (cell_w, cell_h), method=_LANCZOS))
        row, col = divmod(index, cols)
        in_row = min(cols, used - row * cols)
        shift = (cols - in_row) * (cell_w + gap) // 2  # centre an incomplete last row
        x = left + shift + col * (cell_w + gap) + (cell_w - tile.width) // 2
        y = top + row * (cell_h + gap) + (cell_h - tile.height) // 2
        canvas.paste(tile, (x, y))
    return _encode(canvas, max_bytes=max_bytes, min_height=min_height, source=source)


# -- decoding ----------------------------------------------------------------------------------


def _decode(
    data: bytes,
    *,
    box: int,
    source: str,
    min_height: int,
    max_pixels: int,
    min_source_side: int,
    max_input_bytes: int,
) -> Image.Image:
    """Validated, oriented, sRGB ``RGB`` or ``RGBA`` pixels, no larger than ``box`` x ``box``.

    RGBA is returned only when some pixel is not fully opaque.
    """
    data = _checked_bytes(data, source, max_input_bytes)

    # Pillow warns (and from twice its own limit raises) about large images while opening.
    # Our own, lower limit is what counts, so the warning must not escape to the caller; nor
    # must complaints about broken EXIF, which cost nothing but the orientation. (Before
    # Python 3.14's context-aware warnings, catch_warnings is process-wide: harmless here.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", r".*corrupt EXIF", UserWarning)
        image = _open(data, source, max_pixels)
        width, height = image.size
        _check_dimensions(width, height, source, max_pixels, min_source_side, min_height)
        icc_profile = image.info.get("icc_profile")
        try:
            _draft(image, box)
            image.load()
        except Image.DecompressionBombError as exc:
            raise ImageValidationError(
                _too_many_pixels(width, height, max_pixels), source=source
            ) from exc
        except Exception as exc:
            # Decoders raise many types on hostile or truncated input (OSError, SyntaxError,
            # struct.error, IndexError...); for the shop owner they all mean "damaged file".
            raise ImageValidationError(_DAMAGED, source=source) from exc
        orientation = _orientation(image)

    image = _normalise_mode(image, source)
    # The box is square, so shrinking before orienting gives the same size; rotating the
    # small image instead of the decoded one is what saves the time.
    image.thumbnail((box, box), _SHRINK)
    if orientation is not None:
        image = image.transpose(orientation)
    image = _to_srgb(image, icc_profile)
    if image.mode == "RGBA" and image.getchannel("A").getextrema()[0] == 255:
        image = image.convert("RGB")  # an alpha channel without transparency: JPEG will do
    return image


def _checked_bytes(data: Any, source: str, max_input_bytes: int) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"image data must be bytes, not {type(data).__name__}")
    if len(data) == 0:
        raise ImageValidationError(
            "The file is empty. Upload a product photo in PNG or JPEG format.", source=source
        )
    if len(data) > max_input_bytes:
        raise ImageValidationError(file_too_big(len(data), max_input_bytes), source=source)
    return bytes(data)


def _check_dimensions(
    width: int, height: int, source: str, max_pixels: int, min_source_side: int, min_height: int
) -> None:
    if width * height > max_pixels:
        raise ImageValidationError(_too_many_pixels(width, height, max_pixels), source=source)
    if min(width, height) < min_source_side:
        raise ImageValidationError(
            f"The image is {width}{_BY}{height} pixels; Vipps needs images at least "
            f"{min_height} pixels high, and an image under {min_source_side} pixels on "
            f"a side is too small to enlarge. Upload a larger image (at least "
            f"{min_height}{_BY}{min_height} pixels).",
            source=source,
        )


def _draft(image: Image.Image, box: int) -> None:
    """Let a JPEG decode at 1/2, 1/4 or 1/8 scale while at least ``_DRAFT_GAP`` x ``box``.

    Decoding fewer pixels saves most of the time, and every later step (shrink, rotation,
    colour conversion) then has fewer pixels too. Pillow picks the strongest scale whose
    result is at least the size asked for. Other formats ignore this.
    """
    width, height = image.size
    scale = _DRAFT_GAP * box / max(width, height)
    if scale < 1:
        image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The transposition the EXIF (or XMP) orientation asks for, applied once the image is small.

    Read from the decoded file, which knows every place the tag can hide (a TIFF's own tags,
    a PNG's eXIf chunk after the pixels). Broken EXIF must not cost a good picture: no
    orientation then.
    """
    try:
        return _TRANSPOSITIONS.get(image.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:
        return None


def _open(data: bytes, source: str, max_pixels: int) -> Image.Image:
    """Read the header only, accepting nothing outside :data:`INPUT_FORMATS`."""
    try:
        return Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
    except Image.DecompressionBombError as exc:
        # Over twice Pillow's global limit, which raised before we could check ours.
        size = _header_size(data)
        reason = (
            _too_many_pixels(*size, max_pixels)
            if size
            else "The image has far too many pixels to be a product photo. Scale it down "
            f"(2000{_BY}2000 pixels is plenty) and upload it again."
        )
        raise ImageValidationError(reason, source=source) from exc
    except UnidentifiedImageError as exc:
        raise ImageValidationError(_unsupported_reason(data), source=source) from exc
    except Exception as exc:
        raise ImageValidationError(_DAMAGED, source=source) from exc


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The size a header claims, read through Pillow's format registry without its global
    bomb check, so the refusal can name the dimensions. Nothing is decoded."""
    Image.init()
    for name in INPUT_FORMATS:
        factory, accept = Image.OPEN[name]
        try:
            if accept is None or accept(data[:16]) is True:
                return factory(io.BytesIO(data), "").size
        except Exception:  # noqa: S112 - try the next format
            continue
    return None


def _unsupported_reason(data: bytes) -> str:
    """Name the formats shop owners most often upload by mistake; otherwise a generic reason."""
    head = data[:1024]
    if head[4:8] == b"ftyp" and head[8:12] in {
        b"heic",
        b"heix",
        b"heim",
        b"heis",
        b"mif1",
        b"msf1",
        b"hevc",
        b"avif",
        b"avis",
    }:
        return (
            "The file is a HEIC or AVIF photo (the format iPhones use), which Vipps cannot "
            "show. Save or export it as JPEG and upload it again."
        )
    if head.lstrip().startswith(b"%PDF"):
        return (
            "The file is a PDF document, not an image. Export the product picture as PNG or "
            "JPEG and upload it again."
        )
    if b"<svg" in head.lower():
        return (
            "The file is an SVG drawing; Vipps needs a picture made of pixels. Export it as "
            "PNG and upload it again."
        )
    return _NOT_AN_IMAGE


def _brightest(image: Image.Image) -> float:
    """The highest value of a one-band image (of the brightest band, were it several)."""
    top = image.getextrema()[1]
    return float(max(top) if isinstance(top, tuple) else top)


def _normalise_mode(image: Image.Image, source: str) -> Image.Image:
    """Reduce Pillow's many modes to L, RGB, RGBA or CMYK (CMYK waits for its ICC profile).

    Done before any resampling, because palette images resize poorly and 16-bit grey would
    otherwise be clipped to white.
    """
    mode = image.mode
    try:
        if mode in {"L", "RGB", "RGBA", "CMYK"} and "transparency" not in image.info:
            return image
        if mode in {"P", "PA", "LA", "RGBa", "1", "L", "RGB"}:
            has_alpha = mode in {"PA", "LA", "RGBa"} or "transparency" in image.info
            return image.convert("RGBA" if has_alpha else ("L" if mode == "1" else "RGB"))
        if mode == "La":
            return image.convert("LA").convert("RGBA")
        if mode.startswith("I"):  # 16-bit (or 32-bit integer) grey
            image = image.convert("I")
            if _brightest(image) > 255:
                image = image.point(lambda value: value * (1 / 256))
            return image.convert("L")
        if mode == "F":
            if _brightest(image) <= 1.0:  # floating point images are often 0..1
                image = image.point(lambda value: value * 255)
            return image.convert("L")
        return image.convert("RGB")  # YCbCr, LAB, HSV
    except (ValueError, OSError) as exc:
        raise ImageValidationError(
            f"The image uses a colour format ({mode}) that cannot be converted. Save it as an "
            "ordinary RGB JPEG or PNG and upload it again.",
            source=source,
        ) from exc


def _to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Apply the embedded colour profile, then forget it; without one, convert plainly.

    The profile is not sent (metadata is stripped), so its colours must be baked in. A
    profile that cannot be parsed or does not match the pixels is ignored.
    """
    out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
    if icc_profile and ImageCms is not None:
        # A broken or exotic profile: the plain conversion below is the best we can do.
        with contextlib.suppress(OSError, ValueError, TypeError, ImageCms.PyCMSError):
            transform = _srgb_transform(icc_profile, image.mode, out_mode)
            if transform is not None:
                return transform.apply(image)
    return image if image.mode == out_mode else image.convert(out_mode)


@functools.lru_cache(maxsize=8)
def _srgb_transform(
    icc_profile: bytes, mode: str, out_mode: str
) -> ImageCms.ImageCmsTransform | None:
    """The conversion from ``icc_profile`` to sRGB, or None when there is nothing to convert.

    Cached because a shop's photos share a handful of profiles and building a transform
    costs a fifth of applying it (LittleCMS transforms may be shared between threads). None
    when the profile does not fit the pixels, and when it is sRGB already, as in most
    exported photos: the transform then returns every probed colour unchanged, and applying
    it to the photo would only cost time.
    """
    expected = {"RGB": "RGB", "RGBA": "RGB", "CMYK": "CMYK", "L": "GRAY"}.get(mode)
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
    if profile.profile.xcolor_space.strip() != expected:
        return None
    transform = ImageCms.buildTransform(profile, ImageCms.createProfile("sRGB"), mode, out_mode)
    if mode == out_mode == "RGB":
        probe = _colour_probe()
        if transform.apply(probe).tobytes() == probe.tobytes():
            return None
    return transform


@functools.cache
def _colour_probe() -> Image.Image:
    """Every grey, every level of each primary and a 16 x 16 x 16 lattice of colours: what
    a transform that changes nothing must leave untouched."""
    ramps = [(v * (c == 0), v * (c == 1), v * (c == 2)) for c in range(3) for v in range(256)]
    greys = [(v, v, v) for v in range(256)]
    steps = range(0, 256, 17)
    lattice = [(r, g, b) for r in steps for g in steps for b in steps]
    colours = [*ramps, *greys, *lattice]
    return Image.frombytes("RGB", (len(colours), 1), bytes(v for rgb in colours for v in rgb))


def _flatten(image: Image.Image) -> Image.Image:
    """Composite transparency onto white, for tiles of a JPEG collage."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGBA", image.size, (*_WHITE, 255))
    return Image.alpha_composite(background, image).convert("RGB")


# -- encoding ----------------------------------------------------------------------------------


def _encode(canvas: Image.Image, *, max_bytes: int, min_height: int, source: str) -> PreparedImage:
    """The largest, best-quality encoding of the square ``canvas`` that fits ``max_bytes``."""
    image_format = "PNG" if canvas.mode == "RGBA" else "JPEG"
    # Rebuilding from raw pixels leaves every piece of metadata (EXIF, GPS, XMP, ICC,
    # comments, PNG text) behind, whatever Pillow would otherwise carry over on save.
    canvas = Image.frombytes(canvas.mode, canvas.size, canvas.tobytes())
    current = canvas
    while True:
        for data in _encodings(current, image_format):
            if len(data) <= max_bytes:
                return PreparedImage(
                    data=data, format=image_format, width=current.width, height=current.height
                )
        if current.height <= min_height:
            break
        side = max(min_height, math.floor(current.height * DOWNSCALE_STEP))
        current = canvas.resize((side, side), _LANCZOS)
    raise ImageValidationError(
        f"The image could not be made smaller than {_format_bytes(max_bytes)}, the most "
        "Vipps accepts, even at reduced quality and size. Upload a simpler image, for "
        "example a product photo on a plain background.",
        source=source,
    )


def _encodings(image: Image.Image, image_format: str) -> Iterator[bytes]:
    if image_format == "PNG":
        yield _save(image, "PNG", optimize=True)
        return
    for quality in JPEG_QUALITIES:
        yield _save(image, "JPEG", quality=quality, optimize=True, subsampling="4:2:0")


def _save(image: Image.Image, image_format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **params)
    return buffer.getvalue()


# -- messages and checks -----------------------------------------------------------------------


def _check_limits(side: int, min_height: int, max_bytes: int) -> None:
    """Programming errors, not a shop owner's: fail loudly."""
    if min_height < 1 or side < min_height:
        raise ValueError(f"size {side} must be at least min_height {min_height} (and >= 1)")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")


def _too_many_pixels(width: int, height: int, limit: int) -> str:
    return (
        f"The image is {width}{_BY}{height} pixels ({_megapixels(width * height)} megapixels), "
        f"over the {_megapixels(limit)} megapixel limit. Scale it down (2000{_BY}2000 pixels is "
        "plenty) and upload it again."
    )


def file_too_big(size: int, limit: int, *, at_least: bool = False) -> str:
    if at_least:  # a bounded read: we only know it is bigger
        what = f"larger than the {_format_bytes(limit)} limit"
    else:
        what = f"{_format_bytes(size)}, over the {_format_bytes(limit)} limit"
    return (
        f"The file is {what} for product images. Save it smaller (for example as a JPEG "
        f"photo of at most 2000{_BY}2000 pixels) and upload it again."
    )


def _megapixels(pixels: int) -> str:
    value = pixels / 1_000_000
    return str(round(value)) if value >= 10 else f"{value:.1f}".removesuffix(".0")


def _format_bytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{math.ceil(size / 1024)} KB"
    value = size / (1024 * 1024)
    return f"{value:.1f}".removesuffix(".0") + " MB"
