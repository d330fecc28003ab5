"""Anatomy-like synthetic pixels: CT slices in HU, MR, radiographs and ultrasound frames.

Pure numpy and deterministic: the same arguments give the same array. The
shapes are simple (ellipses, rings, bands and speckle) but the value ranges,
the noise and the structure sizes are those of real images, so decoding,
windowing and compressing them costs what it costs on real images (random
noise would not compress; a flat image would compress too well).

>>> bool(ct_slice(64, 64, position=0.5).min() >= -1024)
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["cr_image", "ct_slice", "mr_slice", "us_frame"]

AIR_HU = -1024


def _grid(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates, -1..1 across the image, centre at 0."""
    y = np.linspace(-1.0, 1.0, rows)[:, None]
    x = np.linspace(-1.0, 1.0, columns)[None, :]
    return y, x


def _ellipse(
    y: np.ndarray, x: np.ndarray, cy: float, cx: float, ry: float, rx: float
) -> np.ndarray:
    inside: np.ndarray = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0
    return inside


def _rng(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


def _smooth_noise(rng: np.random.Generator, rows: int, columns: int, cell: int) -> np.ndarray:
    """Low-frequency texture, about unit amplitude: coarse noise, bicubically enlarged."""
    from PIL import Image

    coarse = rng.standard_normal((rows // cell + 2, columns // cell + 2)).astype(np.float32)
    fine = Image.fromarray(coarse, mode="F").resize((columns, rows), Image.Resampling.BICUBIC)
    return np.asarray(fine, dtype=np.float64)


def ct_slice(rows: int, columns: int, *, position: float, seed: int = 0) -> np.ndarray:
    """An axial chest CT slice in Hounsfield units (int16), ``position`` 0 (neck) to 1 (abdomen).

    Air outside, a body of fat and soft tissue, two lungs that shrink towards
    the abdomen, a heart, a vertebral body with cortical bone, a table, and
    quantum noise of about 10 HU.

    >>> hu = ct_slice(128, 128, position=0.3)
    >>> hu.dtype, int(hu.min()) >= -1024, int(hu.max()) <= 3071
    (dtype('int16'), True, True)
    """
    y, x = _grid(rows, columns)
    rng = _rng(seed, int(position * 1000), rows, columns)
    hu = np.full((rows, columns), float(AIR_HU))
    body = _ellipse(y, x, 0.05, 0.0, 0.62, 0.85)
    hu[body] = -100.0  # subcutaneous fat
    hu[_ellipse(y, x, 0.05, 0.0, 0.55, 0.78)] = 40.0  # muscle and organs
    lung = max(0.0, 1.0 - position) * 0.9 + 0.1
    for side in (-1, 1):
        hu[_ellipse(y, x, -0.05, side * 0.38, 0.40 * lung, 0.28 * lung)] = -850.0
    hu[_ellipse(y, x, 0.05, 0.12, 0.22, 0.2 * (1.2 - position))] = 45.0  # heart / liver
    hu[_ellipse(y, x, 0.45, 0.0, 0.12, 0.11)] = 700.0  # cortical bone
    hu[_ellipse(y, x, 0.45, 0.0, 0.09, 0.08)] = 250.0  # cancellous bone
    hu[(y > 0.78) & (y < 0.82) & (np.abs(x) < 0.95)] = 200.0  # the table
    hu += 15.0 * _smooth_noise(rng, rows, columns, 8) * body
    hu += rng.normal(0.0, 10.0, (rows, columns))
    out: np.ndarray = np.clip(np.rint(hu), AIR_HU, 3071).astype(np.int16)
    return out


def mr_slice(rows: int, columns: int, *, position: float, seed: int = 0) -> np.ndarray:
    """An axial T2-like brain MR slice, values 0..~1200 (uint16), ``position`` 0..1.

    >>> img = mr_slice(64, 64, position=0.5)
    >>> img.dtype, int(img.max()) < 4096
    (dtype('uint16'), True)
    """
    y, x = _grid(rows, columns)
    rng = _rng(seed, int(position * 1000), rows, columns, 1)
    scale = 0.6 + 0.4 * np.sin(np.pi * min(max(position, 0.0), 1.0))
    img = np.zeros((rows, columns))
    img[_ellipse(y, x, 0, 0, 0.85 * scale, 0.7 * scale)] = 300.0  # scalp and skull
    img[_ellipse(y, x, 0, 0, 0.78 * scale, 0.63 * scale)] = 550.0  # grey matter
    img[_ellipse(y, x, 0, 0, 0.6 * scale, 0.48 * scale)] = 450.0  # white matter
    for side in (-1, 1):  # ventricles: bright fluid on T2
        img[_ellipse(y, x, -0.05, side * 0.1 * scale, 0.22 * scale, 0.06 * scale)] = 1100.0
    head = img > 0
    img += 40.0 * _smooth_noise(rng, rows, columns, 4) * head
    img += np.abs(rng.normal(0.0, 12.0, (rows, columns)))  # Rician-like background
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def cr_image(rows: int, columns: int, *, seed: int = 0) -> np.ndarray:
    """A PA chest radiograph, 12-bit (uint16; bright is dense, MONOCHROME2).

    >>> img = cr_image(100, 80)
    >>> img.shape, int(img.max()) <= 4095
    ((100, 80), True)
    """
    y, x = _grid(rows, columns)
    rng = _rng(seed, rows, columns, 2)
    img = np.full((rows, columns), 300.0)
    body = _ellipse(y, x, 0.1, 0.0, 1.05, 0.85)
    img[body] = 2600.0
    for side in (-1, 1):
        lung = _ellipse(y, x, -0.05, side * 0.42, 0.62, 0.3)
        img[lung] = 1300.0
        ribs = lung & (np.sin((y + 0.3 * np.abs(x)) * 28.0) > 0.75)
        img[ribs] += 500.0
    img[_ellipse(y, x, 0.15, 0.1, 0.35, 0.28)] = 2400.0  # heart
    img[:, np.abs(x[0]) < 0.07] = 3300.0  # spine and mediastinum
    img += 120.0 * _smooth_noise(rng, rows, columns, 16)
    img += rng.normal(0.0, 25.0, (rows, columns))
    out: np.ndarray = np.clip(np.rint(img), 0, 4095).astype(np.uint16)
    return out


def us_frame(rows: int, columns: int, *, frame: int, seed: int = 0) -> np.ndarray:
    """One 8-bit B-mode ultrasound frame: a sector of speckle with a moving structure.

    >>> us_frame(48, 64, frame=0).dtype
    dtype('uint8')
    """
    y, x = _grid(rows, columns)
    rng = _rng(seed, frame, rows, columns, 3)
    depth = (y + 1.0) / 2.0  # 0 at the probe, 1 at the bottom
    angle = np.arctan2(x, depth + 0.05)
    sector = (np.abs(angle) < 0.6) & (depth > 0.02) & (depth < 0.97)
    tissue = 90.0 * np.exp(-1.2 * depth)
    beat = 0.1 * np.sin(2 * np.pi * frame / 16)
    cavity = _ellipse(y, x, 0.1, 0.0, 0.25 + beat, 0.2 + beat)
    tissue = np.where(cavity, 8.0, tissue)
    speckle = rng.rayleigh(1.0, (rows, columns))
    img = np.where(sector, tissue * speckle, 0.0)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
