"""bench/folder_thumbnails.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import io
import sys

from tests.support.paths import BENCH


def test_bench_folder_thumbnails_quick_prints_its_ratios(bench_records):
    records, _ = bench_records("folder_thumbnails")
    names = [r["name"] for r in records]
    for syntax in ("explicit", "rle", "jpegls", "j2k", "jpeg"):
        assert f"folder thumbnails 256px, {syntax} / plain loop" in names


def test_the_plain_loop_makes_jpeg_thumbnails(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        from folder_thumbnails import plain_thumbnail
    finally:
        sys.path.remove(str(BENCH))
    from PIL import Image

    from dicomlab.samples.realistic import generate_realistic

    (path,) = generate_realistic(tmp_path, kinds=["CR"], syntaxes=["rle"], instances=1, scale=0.25)
    image = Image.open(io.BytesIO(plain_thumbnail(path)))
    assert image.format == "JPEG" and max(image.size) == 256
