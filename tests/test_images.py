"""The image pipeline: every input is generated with Pillow in memory."""

from __future__ import annotations

import io
import random
import struct
import time
import zlib

import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageStat

from vipps_order_management import images
from vipps_order_management.exceptions import ImageSourceError, ImageValidationError
from vipps_order_management.images import (
    MAX_BYTES,
    PreparedImage,
    make_collage,
    prepare_image,
)
from vipps_order_management.payloads import IMAGE_ID_PATTERN
from vipps_order_management.storage import read_stored_image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


# -- helpers -----------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def solid(colour: tuple[int, ...] = RED, size: tuple[int, int] = (200, 200), **kw: object) -> bytes:
    mode = "RGBA" if len(colour) == 4 else "RGB"
    return encode(Image.new(mode, size, colour), **kw)


def halves(size: tuple[int, int] = (300, 150)) -> Image.Image:
    """Left half red, right half blue."""
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, size[0] // 2, size[1]))
    return image


def noise(size: tuple[int, int] = (400, 400), mode: str = "RGB", seed: int = 1) -> Image.Image:
    """Random pixels: incompressible, so size limits really bite."""
    count = size[0] * size[1] * len(mode)
    return Image.frombytes(mode, size, random.Random(seed).randbytes(count))


def png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming any size, with almost no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def opened(prepared: PreparedImage) -> Image.Image:
    """Decode the output and check that it is what Vipps accepts and what it claims to be."""
    image = Image.open(io.BytesIO(prepared.data))
    assert image.format == prepared.format
    assert prepared.format in {"JPEG", "PNG"}
    assert image.size == (prepared.width, prepared.height)
    assert prepared.width == prepared.height >= 167
    assert len(prepared.data) <= MAX_BYTES
    image.load()
    return image


def close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def rgb_at(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return image.convert("RGB").getpixel(xy)


@pytest.fixture(scope="module")
def noise_jpeg() -> bytes:
    """3000 x 3000 random noise: the worst case for compression."""
    return encode(noise((3000, 3000), seed=20240229), "JPEG", quality=95)


# -- orientation and metadata ------------------------------------------------------------------


@pytest.mark.parametrize(("orientation", "top", "bottom"), [(6, RED, BLUE), (8, BLUE, RED)])
def test_exif_orientation_is_applied(orientation, top, bottom):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(halves((300, 150)), "JPEG", quality=95, exif=exif.tobytes())

    result = opened(prepare_image(data))

    # Rotated to 150 x 300 and centred on a 300 x 300 canvas: the halves are now top and bottom.
    assert result.size == (300, 300)
    assert close(rgb_at(result, (150, 30)), top)
    assert close(rgb_at(result, (150, 270)), bottom)
    assert close(rgb_at(result, (20, 150)), WHITE)


def test_metadata_is_stripped():
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"  # Make
    exif[0x0112] = 1
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (59.0, 54.0, 41.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>SecretXmpValue</rdf:RDF></x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(
        halves((400, 400)),
        "JPEG",
        exif=exif.tobytes(),
        xmp=xmp,
        icc_profile=srgb,
        comment=b"SecretComment",
    )
    source = Image.open(io.BytesIO(data))
    assert source.getexif().get_ifd(0x8825)  # the input really carries GPS
    assert "icc_profile" in source.info

    prepared = prepare_image(data)
    result = opened(prepared)

    assert dict(result.getexif()) == {}
    assert not result.getexif().get_ifd(0x8825)
    for key in ("exif", "xmp", "icc_profile", "comment"):
        assert key not in result.info
    for marker in (b"Exif", b"SecretCamMaker", b"SecretXmpValue", b"SecretComment", b"adobe"):
        assert marker not in prepared.data


def test_png_metadata_is_stripped():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "SecretAuthor")
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = Image.new("RGBA", (200, 200), (255, 0, 0, 128))  # square: no padding needed
    data = encode(image, pnginfo=info, exif=exif.tobytes(), icc_profile=srgb)
    assert "icc_profile" in Image.open(io.BytesIO(data)).info

    prepared = prepare_image(data)
    result = opened(prepared)

    assert prepared.format == "PNG"
    for key in ("Author", "exif", "icc_profile"):
        assert key not in result.info
    for marker in (b"SecretAuthor", b"SecretCamMaker", b"iCCP", b"eXIf"):
        assert marker not in prepared.data


def test_broken_colour_profile_and_exif_do_not_cost_a_good_picture():
    data = encode(halves((300, 300)), icc_profile=b"not a colour profile")
    assert Image.open(io.BytesIO(data)).info["icc_profile"] == b"not a colour profile"
    jpeg = encode(halves((300, 300)), "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x7f")

    for prepared in (prepare_image(data), prepare_image(jpeg)):
        result = opened(prepared)
        assert close(rgb_at(result, (50, 150)), RED)
        assert close(rgb_at(result, (250, 150)), BLUE)


# -- modes and transparency --------------------------------------------------------------------


def test_transparency_is_kept_as_png():
    image = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (100, 0, 200, 100))

    prepared = prepare_image(encode(image))
    result = opened(prepared)

    assert prepared.format == "PNG"
    assert prepared.content_type == "image/png"
    assert result.mode == "RGBA"
    assert result.size == (200, 200)
    assert result.getpixel((100, 10))[3] == 0  # padding is transparent
    assert result.getpixel((50, 100))[3] == 0  # so is the transparent part of the product
    assert result.getpixel((150, 100)) == (255, 0, 0, 255)


def test_opaque_rgba_becomes_jpeg():
    prepared = prepare_image(solid((0, 255, 0, 255), (200, 200)))

    assert prepared.format == "JPEG"
    assert prepared.content_type == "image/jpeg"
    assert opened(prepared).mode == "RGB"


def _cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (200, 200), (255, 0, 0, 0)), "JPEG", quality=95)


def _cmyk_tiff() -> bytes:
    return encode(Image.new("CMYK", (200, 200), (255, 0, 0, 0)), "TIFF")


def _palette_png() -> bytes:
    image = Image.new("P", (200, 200), 1)
    image.putpalette([0, 0, 0, 255, 0, 0])
    return encode(image)


def _grey16_png() -> bytes:
    return encode(Image.new("I;16", (200, 200), 32768))  # mid grey; clipping would give white


def _grey_alpha_png() -> bytes:
    return encode(Image.new("LA", (200, 200), (128, 255)))


def _bilevel_png() -> bytes:
    return encode(Image.new("1", (200, 200), 0))


@pytest.mark.parametrize(
    ("make", "mode", "colour"),
    [
        (_cmyk_jpeg, "CMYK", (0, 255, 255)),
        (_cmyk_tiff, "CMYK", (0, 255, 255)),
        (_palette_png, "P", RED),
        (_grey16_png, "I;16", (128, 128, 128)),
        (_grey_alpha_png, "LA", (128, 128, 128)),
        (_bilevel_png, "1", (0, 0, 0)),
    ],
    ids=["cmyk-jpeg", "cmyk-tiff", "palette", "grey16", "grey-alpha", "bilevel"],
)
def test_modes_are_converted_to_rgb(make, mode, colour):
    data = make()
    assert Image.open(io.BytesIO(data)).mode == mode

    prepared = prepare_image(data)
    result = opened(prepared)

    assert prepared.format == "JPEG"
    assert result.mode == "RGB"
    assert close(rgb_at(result, (100, 100)), colour, tolerance=6)


def test_palette_gif_with_transparency_becomes_png():
    image = Image.new("P", (200, 200), 0)
    image.putpalette([0, 0, 0, 0, 0, 255])
    image.paste(1, (50, 50, 150, 150))
    data = encode(image, "GIF", transparency=0)

    result = opened(prepare_image(data))

    assert result.format == "PNG"
    assert result.getpixel((10, 10))[3] == 0
    assert result.getpixel((100, 100)) == (0, 0, 255, 255)


# -- geometry ----------------------------------------------------------------------------------


def test_output_is_square_with_bounded_longest_side_and_the_product_uncropped():
    data = encode(halves((2000, 1000)), "JPEG", quality=95)

    result = opened(prepare_image(data))

    assert result.size == (1024, 1024)
    # 1024 x 512 content centred vertically: both halves fully there, white bands above/below.
    assert close(rgb_at(result, (5, 512)), RED)
    assert close(rgb_at(result, (1018, 512)), BLUE)
    assert close(rgb_at(result, (512, 100)), WHITE)
    assert close(rgb_at(result, (512, 924)), WHITE)


def test_max_side_is_honoured():
    prepared = prepare_image(solid(RED, (900, 600)), max_side=500)

    assert (prepared.width, prepared.height) == (500, 500)


def test_small_image_is_enlarged_to_the_minimum_height():
    prepared = prepare_image(solid(RED, (150, 120)))

    result = opened(prepared)
    assert result.size == (167, 167)
    assert close(rgb_at(result, (83, 83)), RED)


@pytest.mark.parametrize("size", [(80, 60), (1000, 50)])
def test_too_small_image_is_refused_with_its_size(size):
    with pytest.raises(ImageValidationError) as info:
        prepare_image(solid(RED, size), source="tiny.png")

    reason = info.value.reason
    assert f"{size[0]}\N{MULTIPLICATION SIGN}{size[1]} pixels" in reason
    assert "167 pixels high" in reason
    assert "Upload a larger image" in reason
    assert info.value.source == "tiny.png"
    assert str(info.value).startswith("tiny.png: ")


# -- file size ---------------------------------------------------------------------------------


def test_large_noisy_image_fits_under_2_mb(noise_jpeg):
    prepared = prepare_image(noise_jpeg)

    assert (prepared.width, prepared.height) == (1024, 1024)
    assert len(prepared.data) <= 2 * 1024 * 1024


def test_low_max_bytes_lowers_quality_then_size(noise_jpeg):
    full = prepare_image(noise_jpeg)

    lower_quality = prepare_image(noise_jpeg, max_bytes=len(full.data) * 2 // 3)
    assert len(lower_quality.data) <= len(full.data) * 2 // 3
    assert (lower_quality.width, lower_quality.height) == (1024, 1024)  # same size, less quality

    smaller = prepare_image(noise_jpeg, max_bytes=60_000)
    assert len(smaller.data) <= 60_000
    assert 167 <= smaller.width < 1024
    assert smaller.width == smaller.height


def test_what_cannot_fit_is_refused():
    with pytest.raises(ImageValidationError, match="could not be made smaller than 1 KB"):
        prepare_image(encode(noise()), max_bytes=1000)


def test_transparent_png_falls_back_to_a_smaller_size():
    budget = 400 * 400  # far less than 400 x 400 incompressible RGBA pixels need

    prepared = prepare_image(encode(noise(mode="RGBA")), max_bytes=budget)

    assert prepared.format == "PNG"
    assert len(prepared.data) <= budget
    assert 167 <= prepared.width < 400


# -- hostile and broken input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "megapixels"),
    [(20000, 20000, "400"), (10000, 10000, "100"), (8000, 8000, "64")],
)
def test_decompression_bomb_header_is_refused_quickly(width, height, megapixels):
    # 20000^2 is over Pillow's own error limit, 10000^2 only over its warning limit (which
    # must not escape: warnings are errors here), 8000^2 only over ours.
    started = time.perf_counter()
    with pytest.raises(ImageValidationError) as info:
        prepare_image(png_header(width, height))

    assert time.perf_counter() - started < 1.0
    reason = info.value.reason
    assert f"{width}\N{MULTIPLICATION SIGN}{height} pixels ({megapixels} megapixels)" in reason
    assert "over the 50 megapixel limit" in reason


def test_pixel_limit_is_checked_before_decoding_and_without_pillows_global(monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    data = solid(RED, (2000, 1000))

    with pytest.raises(ImageValidationError, match=r"\(2 megapixels\), over the 1 megapixel"):
        prepare_image(data, max_pixels=1_000_000)


def test_pillows_stricter_global_limit_is_still_a_clear_refusal(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)

    with pytest.raises(ImageValidationError, match="over the 50 megapixel limit"):
        prepare_image(solid(RED, (400, 400)))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "The file is empty"),
        (b"this is not an image at all", "The file is not an image (expected PNG or JPEG)"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
        (b"%PDF-1.7\n", "PDF document"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG drawing"),
    ],
    ids=["empty", "garbage", "heic", "pdf", "svg"],
)
def test_non_images_are_refused(data, expected):
    with pytest.raises(ImageValidationError) as info:
        prepare_image(data, source="upload.bin")

    assert expected in info.value.reason
    assert "upload" in info.value.reason.lower()
    assert info.value.source == "upload.bin"


def test_formats_outside_the_whitelist_are_refused():
    data = encode(Image.new("RGB", (200, 200), RED), "PPM")
    assert Image.open(io.BytesIO(data)).format == "PPM"  # Pillow itself would read it

    with pytest.raises(ImageValidationError, match="not an image"):
        prepare_image(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_refused(fmt):
    data = encode(noise((300, 300)), fmt)

    with pytest.raises(ImageValidationError, match="damaged or incomplete"):
        prepare_image(data[: len(data) // 2])


def test_oversized_input_is_refused_unread():
    with pytest.raises(ImageValidationError, match=r"The file is 1\.5 MB, over the 1 MB limit"):
        prepare_image(b"\0" * (1536 * 1024), max_input_bytes=1024 * 1024)


@pytest.mark.parametrize("fmt", ["WEBP", "GIF", "BMP", "TIFF", "PNG", "JPEG"])
def test_common_formats_are_accepted(fmt):
    data = encode(halves((300, 300)), fmt)
    assert Image.open(io.BytesIO(data)).format == fmt

    result = opened(prepare_image(data))

    assert close(rgb_at(result, (50, 150)), RED)
    assert close(rgb_at(result, (250, 150)), BLUE)


def test_animated_gif_uses_its_first_frame():
    frames = [Image.new("RGB", (200, 200), colour) for colour in (RED, BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)

    result = opened(prepare_image(buffer.getvalue()))

    assert close(rgb_at(result, (100, 100)), RED)


# -- camera photos -----------------------------------------------------------------------------

MAGENTA = (255, 0, 255)
GREY = (128, 128, 128)


def camera_photo(orientation: int = 1, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A 12 megapixel JPEG as a phone stores it, with a marker in the stored top-left corner."""
    image = Image.new("RGB", size, GREY)
    image.paste(MAGENTA, (0, 0, size[0] // 10, size[1] // 10))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


@pytest.mark.parametrize(
    ("orientation", "marker", "opposite", "padding"),
    [
        # Landscape: 1024 x 768 centred, so rows 128 to 896 hold the photo.
        (1, (40, 160), (990, 860), (512, 60)),
        (2, (990, 160), (40, 860), (512, 60)),
        (3, (990, 860), (40, 160), (512, 60)),
        (4, (40, 860), (990, 160), (512, 60)),
        # Portrait once upright: 768 x 1024 centred, columns 128 to 896.
        (5, (160, 40), (860, 990), (60, 512)),
        (6, (860, 40), (160, 990), (60, 512)),
        (7, (860, 990), (160, 40), (60, 512)),
        (8, (160, 990), (860, 40), (60, 512)),
    ],
    ids=[f"orientation-{n}" for n in range(1, 9)],
)
def test_large_camera_photo_comes_out_upright(orientation, marker, opposite, padding):
    result = opened(prepare_image(camera_photo(orientation)))

    assert result.size == (1024, 1024)
    assert close(rgb_at(result, marker), MAGENTA)
    assert close(rgb_at(result, opposite), GREY)
    assert close(rgb_at(result, padding), WHITE)


@pytest.mark.parametrize(
    ("size", "decoded"),
    [
        ((4000, 3000), (2000, 1500)),  # a 12 megapixel phone photo: half size is plenty
        ((6000, 4000), (3000, 2000)),  # a quarter (1500 wide) would leave too little to shrink
        ((3000, 2000), (3000, 2000)),  # half (1500 wide) would, too
    ],
    ids=["12-megapixel", "24-megapixel", "6-megapixel"],
)
def test_large_jpeg_is_decoded_at_reduced_size(monkeypatch, size, decoded):
    sizes = []
    load = ImageFile.ImageFile.load

    def spy(self):
        pixels = load(self)
        sizes.append(self.size)
        return pixels

    data = encode(Image.new("RGB", size, RED), "JPEG")
    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)

    prepared = prepare_image(data)

    assert sizes[0] == decoded
    assert (prepared.width, prepared.height) == (1024, 1024)


def test_fine_patterns_in_large_photos_do_not_turn_into_moire():
    # Lines 5 pixels apart in a 24 megapixel photo are under 1 pixel apart at 1024 wide, so
    # they must blend into an even grey. Decoding at a quarter of the size would leave
    # stripes (a standard deviation of about 26).
    image = Image.new("L", (6000, 4000), 255)
    draw = ImageDraw.Draw(image)
    for y in range(0, 4000, 5):
        draw.line([(0, y), (6000, y)], fill=0, width=2)

    result = opened(prepare_image(encode(image, "JPEG", quality=95)))

    centre = result.convert("L").crop((312, 312, 712, 712))
    assert ImageStat.Stat(centre).stddev[0] < 10


def _display_p3_profile() -> bytes:
    """Pillow's sRGB profile with Display P3's primaries (Pillow cannot create P3 itself)."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    primaries = {
        b"rXYZ": (0.5151, 0.2412, -0.0011),
        b"gXYZ": (0.2919, 0.6922, 0.0419),
        b"bXYZ": (0.1572, 0.0666, 0.7841),
    }
    (count,) = struct.unpack_from(">I", data, 128)
    for index in range(count):
        tag, offset, _ = struct.unpack_from(">4sII", data, 132 + 12 * index)
        if tag in primaries:
            struct.pack_into(">3i", data, offset + 8, *(round(v * 65536) for v in primaries[tag]))
    return bytes(data)


def test_display_p3_photo_keeps_its_colours_and_its_bytes():
    colour = (220, 80, 40)
    p3 = _display_p3_profile()
    swatch = Image.new("RGB", (1, 1), colour)
    srgb = ImageCms.createProfile("sRGB")
    expected = ImageCms.profileToProfile(swatch, ImageCms.ImageCmsProfile(io.BytesIO(p3)), srgb)
    expected_colour = expected.getpixel((0, 0))
    assert not close(expected_colour, colour, tolerance=12)  # the conversion is visible
    data = encode(Image.new("RGB", (2000, 1500), colour), "JPEG", quality=95, icc_profile=p3)

    images._srgb_transform.cache_clear()
    first = prepare_image(data)  # builds the colour transform
    second = prepare_image(data)  # reuses it

    assert close(rgb_at(opened(first), (512, 512)), expected_colour, tolerance=4)
    assert first.data == second.data


def test_srgb_profile_changes_nothing():
    photo = halves((400, 300))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

    tagged = prepare_image(encode(photo, "JPEG", quality=95, icc_profile=srgb))
    untagged = prepare_image(encode(photo, "JPEG", quality=95))

    assert tagged.data == untagged.data


def test_large_photo_output_is_deterministic():
    data = camera_photo(6)

    assert prepare_image(data).data == prepare_image(data).data


# -- identity ----------------------------------------------------------------------------------


def test_output_is_deterministic():
    data = encode(halves((800, 600)), "JPEG", quality=90)

    first, second = prepare_image(data), prepare_image(data)
    other = prepare_image(encode(halves((800, 601)), "JPEG", quality=90))

    assert first.data == second.data
    assert first.image_id == second.image_id
    assert other.image_id != first.image_id


def test_image_id_is_valid_for_the_api():
    prepared = prepare_image(solid(RED))

    assert len(prepared.image_id) == 64
    assert IMAGE_ID_PATTERN.match(prepared.image_id)
    assert set(prepared.image_id) <= set("0123456789abcdef")
    upload = prepared.as_upload()
    assert (upload.image_id, upload.data) == (prepared.image_id, prepared.data)
    assert upload.errors() == []
    assert "data" not in repr(prepared)


def test_bad_arguments_are_programming_errors():
    with pytest.raises(ValueError, match="min_height"):
        prepare_image(solid(RED), max_side=100)
    with pytest.raises(TypeError):
        prepare_image("not bytes")  # type: ignore[arg-type]


# -- collage -----------------------------------------------------------------------------------

COLOURS = [
    RED,
    GREEN,
    BLUE,
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (0, 0, 0),
    (128, 128, 128),
    (255, 128, 0),
    (128, 0, 255),
]


def tiles(count: int) -> list[bytes]:
    return [solid(colour, (200, 200)) for colour in COLOURS[:count]]


def test_collage_of_one_is_prepare_image():
    data = encode(halves((600, 300)), "JPEG")

    assert make_collage([data], size=500) == prepare_image(data, max_side=500)


def test_collage_of_two_is_side_by_side():
    result = opened(make_collage(tiles(2), size=400))

    assert result.size == (400, 400)
    assert close(rgb_at(result, (100, 200)), RED)
    assert close(rgb_at(result, (300, 200)), GREEN)
    assert close(rgb_at(result, (100, 30)), WHITE)  # padded, not stretched or cropped


def test_collage_of_four_fills_the_quadrants():
    result = opened(make_collage(tiles(4), size=400))

    assert close(rgb_at(result, (100, 100)), COLOURS[0])
    assert close(rgb_at(result, (300, 100)), COLOURS[1])
    assert close(rgb_at(result, (100, 300)), COLOURS[2])
    assert close(rgb_at(result, (300, 300)), COLOURS[3])
    assert close(rgb_at(result, (200, 200)), WHITE)  # the gutter


def test_collage_of_three_centres_the_last_row():
    result = opened(make_collage(tiles(3), size=400))

    assert close(rgb_at(result, (100, 100)), COLOURS[0])
    assert close(rgb_at(result, (300, 100)), COLOURS[1])
    assert close(rgb_at(result, (200, 300)), COLOURS[2])
    assert close(rgb_at(result, (30, 300)), WHITE)
    assert close(rgb_at(result, (370, 300)), WHITE)


def test_collage_of_more_than_nine_uses_the_first_nine_in_a_3x3_grid():
    inputs = [*tiles(9), b"garbage that is never decoded"]

    result = opened(make_collage(inputs, size=400))

    centres = [68, 199, 330]
    for index, colour in enumerate(COLOURS[:9]):
        row, col = divmod(index, 3)
        assert close(rgb_at(result, (centres[col], centres[row])), colour), index


def test_collage_tiles_are_oriented_and_flattened():
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = encode(halves((300, 150)), "JPEG", quality=95, exif=exif.tobytes())
    transparent = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    transparent.paste((0, 0, 255, 255), (75, 75, 125, 125))

    result = opened(make_collage([rotated, encode(transparent), *tiles(2)], size=400))

    assert result.format == "JPEG"
    # Tile 1 is 150 x 300 after rotation: red on top, blue below, white beside it.
    assert close(rgb_at(result, (100, 50)), RED)
    assert close(rgb_at(result, (100, 150)), BLUE)
    assert close(rgb_at(result, (20, 100)), WHITE)
    # Tile 2's transparent area is white, not black.
    assert close(rgb_at(result, (220, 30)), WHITE)
    assert close(rgb_at(result, (300, 100)), BLUE)


def test_collage_error_names_the_input():
    inputs = [*tiles(2), b"garbage", *tiles(2)]

    with pytest.raises(ImageValidationError) as info:
        make_collage(inputs, source="order 42")

    assert info.value.reason.startswith("image 3 of 5: The file is not an image")
    assert info.value.source == "order 42"


def test_collage_applies_the_size_limits_per_input():
    inputs = [*tiles(1), solid(RED, (80, 60))]

    with pytest.raises(ImageValidationError, match="image 2 of 2: The image is 80"):
        make_collage(inputs)


def test_collage_is_deterministic_and_bounded():
    inputs = [encode(noise(seed=seed)) for seed in range(5)]

    first, second = make_collage(inputs), make_collage(inputs)

    assert first.data == second.data
    assert (first.width, first.height) == (1024, 1024)
    assert len(first.data) <= MAX_BYTES
    smaller = make_collage(inputs, max_bytes=len(first.data) // 4)
    assert len(smaller.data) <= len(first.data) // 4
    assert 167 <= smaller.width < 1024


def test_collage_of_nothing_is_refused():
    with pytest.raises(ImageValidationError, match="no product images"):
        make_collage([])


# -- storage -----------------------------------------------------------------------------------


@pytest.fixture
def image_storage(settings, tmp_path):
    from django.core.files.storage import storages

    backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path)},
    }
    settings.STORAGES = {"default": backend, "vipps_images": backend}
    return storages["vipps_images"]


def test_read_stored_image_round_trip(image_storage):
    from django.core.files.base import ContentFile

    data = solid(RED)
    name = image_storage.save("products/red.png", ContentFile(data))

    assert read_stored_image(name, "vipps_images") == data
    assert prepare_image(read_stored_image(name, "vipps_images")).format == "JPEG"


def test_read_stored_image_refuses_large_files_before_reading(image_storage, monkeypatch):
    from django.core.files.base import ContentFile

    name = image_storage.save("big.png", ContentFile(b"\0" * 5000))

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")

    with monkeypatch.context() as patch:
        patch.setattr(image_storage, "open", no_reading)
        with pytest.raises(ImageValidationError, match="over the 4 KB limit") as info:
            read_stored_image(name, "vipps_images", max_bytes=4096)
    assert info.value.source == name

    # A backend that cannot tell the size: the bounded read still refuses.
    def no_size(name):
        raise NotImplementedError

    monkeypatch.setattr(image_storage, "size", no_size)
    with pytest.raises(ImageValidationError, match="larger than the 4 KB limit"):
        read_stored_image(name, "vipps_images", max_bytes=4096)


def test_read_stored_image_missing_file_and_unknown_alias(image_storage):
    with pytest.raises(ImageValidationError, match="not found") as info:
        read_stored_image("nope.png", "vipps_images")
    assert info.value.source == "nope.png"

    with pytest.raises(ImageSourceError, match="no_such_storage") as unknown:
        read_stored_image("x.png", "no_such_storage")
    assert unknown.value.source == "x.png"
    with pytest.raises(ImageSourceError, match="refuses this name") as outside:
        read_stored_image("../../etc/passwd", "vipps_images")
    assert outside.value.source == "../../etc/passwd"


def test_module_constants_match_vipps_limits():
    assert images.MAX_BYTES == 2 * 1024 * 1024
    assert images.MIN_HEIGHT == 167
    assert set(images.INPUT_FORMATS) >= {"JPEG", "PNG"}
