"""Thumbnails of full-size images from the folder store, per transfer syntax, against a plain loop.

The realistic synthetic cohort (``dicomlab.samples.realistic``): per transfer
syntax (uncompressed, RLE, JPEG-LS, JPEG 2000, JPEG baseline) a series of 512x512
CT slices, 256x256 MR slices, 2,500x2,048 radiographs and 16-frame 480x640
ultrasound clips, in a temporary folder.

  floor: a plain sequential loop, per file: ``pydicom.dcmread``, the first frame
         decoded, modality LUT and the file's window (pydicom), scaled to
         8 bits, ``Image.thumbnail`` to 256 px, JPEG;
  ours:  ``lab.store.fetch_thumbnails(rows, size=256)`` on a folder-store lab
         (rows with all three UIDs, no render cache: every image is rendered).

Also printed (not a target): ours with ``workers=2``, what a parallel pool
on this machine's 2 cores gives. Floor and ours run interleaved, ``--repeat``
times, and the medians count. Where a syntax misses its target, a profile of
one run of ours says where the time goes.

Target: ours <= 0.6x the loop's time on 2 cores.

Usage::

    python bench/folder_thumbnails.py            # full size, median of 3
    python bench/folder_thumbnails.py --quick    # 1/8 size, one run
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _profile import where_time_goes  # noqa: E402
from _results import interleaved, report  # noqa: E402

TARGET = 0.6
SIZE = 256
KINDS = {"CT": 16, "MR": 8, "CR": 2, "US": 2}


def plain_thumbnail(path: Path) -> bytes:
    """What a notebook user writes: decode, window, Pillow thumbnail, JPEG."""
    import numpy as np
    import pydicom
    from PIL import Image
    from pydicom.pixels import apply_modality_lut, apply_windowing, pixel_array

    ds = pydicom.dcmread(path)
    values = apply_windowing(apply_modality_lut(pixel_array(ds, index=0), ds), ds)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255.0 / max(high - low, 1e-9))
    image = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))
    image.thumbnail((SIZE, SIZE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def rows_by_syntax(paths: list[Path]) -> dict[str, Any]:
    """Per syntax (the folder name), the files and a frame of their three UIDs."""
    import pandas as pd
    import pydicom

    groups: dict[str, list[Path]] = {}
    for path in paths:
        groups.setdefault(path.parent.name, []).append(path)
    out = {}
    for syntax, files in groups.items():
        headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in files]
        frame = pd.DataFrame(
            {
                "StudyInstanceUID": [str(h.StudyInstanceUID) for h in headers],
                "SeriesInstanceUID": [str(h.SeriesInstanceUID) for h in headers],
                "SOPInstanceUID": [str(h.SOPInstanceUID) for h in headers],
            }
        )
        out[syntax] = (files, frame)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1/8 size, 2 per kind, one run")
    args = parser.parse_args()
    import os

    import dicomlab
    from dicomlab.samples.realistic import SYNTAXES, generate_realistic

    scale, counts = (0.125, dict.fromkeys(KINDS, 2)) if args.quick else (1.0, KINDS)
    repeat = 1 if args.quick else args.repeat
    scratch = Path(tempfile.mkdtemp(prefix="bench-folder-thumbs-"))
    try:
        paths = generate_realistic(scratch / "store", instances=counts, scale=scale)
        print(f"cohort: {len(paths)} files, {counts} per syntax, scale {scale}; "
              f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
        lab = dicomlab.connect(store=scratch / "store", home=scratch / "home")
        lab.store.cache = None  # every image rendered, none served from disk
        groups = rows_by_syntax(paths)
        for syntax in SYNTAXES:
            files, frame = groups[syntax]

            def floor(files: list[Path] = files) -> None:
                for path in files:
                    plain_thumbnail(path)

            def ours(frame: Any = frame) -> None:
                tiles = lab.store.fetch_thumbnails(frame, size=SIZE, progress=False)
                assert all(t and t[:2] == b"\xff\xd8" for t in tiles), "a placeholder"

            def pooled(frame: Any = frame) -> None:
                lab.store.fetch_thumbnails(frame, size=SIZE, progress=False, workers=2)

            ours()  # warm: the store's index, imports, the file cache
            floor()
            runs = {"floor": floor, "ours": ours, "pooled": pooled}
            times = interleaved(runs, repeat)
            a, b, c = times["floor"], times["ours"], times["pooled"]
            print(f"{syntax:<9} plain loop {a:7.3f} s   fetch_thumbnails {b:7.3f} s  ({b / a:.2f})"
                  f"   workers=2 {c:7.3f} s  ({c / a:.2f})  [{len(files)} images]")  # fmt: skip
            report(f"folder thumbnails 256px, {syntax} / plain loop", b, a, "<=", TARGET)
            if b / a > TARGET:
                print(f"  where the time goes in fetch_thumbnails ({syntax}), by own time:")
                print("\n".join(where_time_goes(ours)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
