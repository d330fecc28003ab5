"""bench/folder_thumbnails.py still runs (its smoke size: it checks the script, not the speed)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "folder_thumbnails.py"


def test_bench_folder_thumbnails_quick_prints_its_ratios():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    records = [
        json.loads(line.removeprefix("RESULT "))
        for line in done.stdout.splitlines()
        if line.startswith("RESULT ")
    ]
    assert records, done.stdout
    for record in records:
        assert record["ours"] > 0 and record["floor"] > 0, record
        assert record["ratio"] == record["ours"] / record["floor"], record
    names = [r["name"] for r in records]
    for syntax in ("explicit", "rle", "jpegls", "j2k", "jpeg"):
        assert f"folder thumbnails 256px, {syntax} / plain loop" in names


def test_the_plain_loop_makes_jpeg_thumbnails(tmp_path):
    sys.path.insert(0, str(BENCH.parent))
    try:
        from folder_thumbnails import plain_thumbnail
    finally:
        sys.path.remove(str(BENCH.parent))
    from PIL import Image

    from dicomlab.samples.realistic import generate_realistic

    (path,) = generate_realistic(tmp_path, kinds=["CR"], syntaxes=["rle"], instances=1, scale=0.25)
    image = Image.open(io.BytesIO(plain_thumbnail(path)))
    assert image.format == "JPEG" and max(image.size) == 256
