"""Row 4: preparing a camera photo for Vipps against merely decoding it.

The input is what a shop owner uploads from a phone: a 4000x3000 JPEG with gradients and
sensor-like noise (so it compresses like a photo, 2-4 MB) and EXIF orientation 6 (rotated).
Ours is ``images.prepare_image`` (orient, strip, square, resize, re-encode within 2 MB); the
baseline is the least any pipeline must do, a full decode of the same bytes with Pillow.
No database: this row runs once, not per database.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from .harness import Row, Stopwatch, Target, alternate

if TYPE_CHECKING:
    from .child import Context

USES_DJANGO = False
TARGET = Target("<=", 2.0, "<= 2x")
SIZE = (4000, 3000)
ORIENTATION_TAG = 0x0112


def camera_jpeg(size: tuple[int, int] = SIZE, *, noise: float = 8.0, quality: int = 88) -> bytes:
    """A photo-like JPEG: colour gradients plus Gaussian noise, EXIF orientation 6."""
    from PIL import Image, ImageChops

    width, height = size
    horizontal = Image.linear_gradient("L").resize((width, height))
    vertical = horizontal.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    radial = Image.radial_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), noise)
    red = ImageChops.add(horizontal, grain, scale=1.0, offset=-128)
    green = ImageChops.add(vertical, grain, scale=1.0, offset=-128)
    blue = ImageChops.add(radial, Image.effect_noise((width, height), noise), offset=-128)
    photo = Image.merge("RGB", (red, green, blue))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = 6
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    return buffer.getvalue()


def run(context: Context) -> list[Row]:
    from PIL import Image

    from vipps_order_management.images import prepare_image

    data = camera_jpeg()
    prepared = prepare_image(data)

    def ours() -> float:
        with Stopwatch() as clock:
            prepare_image(data)
        return clock.seconds

    def baseline() -> float:
        with Stopwatch() as clock:
            Image.open(io.BytesIO(data)).load()
        return clock.seconds

    ours_samples, baseline_samples = alternate(ours, baseline, pairs=context.pairs, label="images")
    return [
        Row(
            name="images",
            title="prepare a 4000x3000 camera JPEG",
            database="-",
            unit="seconds",
            ours_label="images.prepare_image(data)",
            baseline_label="PIL.Image.open(BytesIO(data)).load()",
            ours=ours_samples,
            baseline=baseline_samples,
            target=TARGET,
            counts={
                "input_bytes": len(data),
                "output_bytes": len(prepared.data),
                "output": f"{prepared.format} {prepared.width}x{prepared.height}",
            },
        )
    ]
