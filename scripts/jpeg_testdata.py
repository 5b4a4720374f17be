"""Write the small JPEG files in tests/data/jpeg/ and Pillow's decoding of each.

    python scripts/jpeg_testdata.py          # needs Pillow; rewrites the files

``tests/test_jpeg.py`` compares Pillow's decoding with purenet's wherever
Pillow is installed. Interpreters without it (PyPy, the bare CPythons in CI)
still check the decoder on these files: each ``NAME.jpg`` comes with
``NAME.png``, the picture Pillow (libjpeg-turbo) decodes from it (EXIF
orientation applied, as purenet applies it), and ``NAME.8.png`` at 1/8 scale.
The files cover what the parity tests do, a few kilobytes each: gray,
4:4:4, 4:2:2, 4:2:0, baseline and progressive, restart intervals, an EXIF
rotation. The pictures are those of ``tests/jpeg_pictures.py``, which the
parity tests encode too.
"""

import os
import sys

from PIL import Image, ImageOps

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
OUT = os.path.join(TESTS, "data", "jpeg")
sys.path.insert(0, TESTS)

from jpeg_pictures import encode, picture, pillow_decode  # noqa: E402

# name -> (mode, width, height, save options)
CASES = {
    "gray-baseline": ("L", 35, 27, dict(quality=85)),
    "gray-progressive-restart": ("L", 35, 27, dict(quality=70, progressive=True, restart_marker_blocks=2)),
    "444-baseline": ("RGB", 30, 22, dict(quality=92, subsampling=0)),
    "422-progressive": ("RGB", 41, 25, dict(quality=80, subsampling=1, progressive=True)),
    "420-baseline-restart": ("RGB", 45, 33, dict(quality=75, subsampling=2, restart_marker_blocks=3)),
    "420-progressive-exif6": ("RGB", 40, 24, dict(quality=88, subsampling=2, progressive=True, orientation=6)),
}


def main() -> int:
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, (mode, width, height, options)) in enumerate(sorted(CASES.items())):
        options = dict(options)
        orientation = options.pop("orientation", None)
        if orientation:
            exif = Image.Exif()
            exif[0x0112] = orientation
            options["exif"] = exif.tobytes()
        data = encode(picture(Image, mode, width, height, seed), **options)
        with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
            f.write(data)
        for scale, suffix in ((1, ""), (8, ".8")):
            ref = pillow_decode(Image, data, scale)
            ImageOps.exif_transpose(ref).save(os.path.join(OUT, name + suffix + ".png"))
        print(f"{name}.jpg: {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
