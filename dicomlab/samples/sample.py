"""The demo cohort and the embedded default's data folder.

The pydicom wheel ships ``data/test_files/dicomdirtests/``: 81 real instances
in 7 studies of 3 patients (CR, CT, MR). It seeds the embedded store.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from pathlib import Path

from dicomlab.plumbing.atomic import publish_folder

__all__ = [
    "GALLERY_FILES",
    "default_home",
    "sample_cohort_dir",
    "sample_files",
    "seed_gallery_store",
    "seed_sample_store",
]

# Distinct full-size real images from pydicom's test data: CT 128², MR 64², ultrasound
# (30-frame YBR JPEG, RGB, palette colour) and a 15-frame RT dose.
GALLERY_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "examples_ybr_color.dcm",
    "examples_rgb_color.dcm",
    "examples_palette.dcm",
    "rtdose.dcm",
)

logger = logging.getLogger(__name__)


LEGACY_HOME = "dicomlab-data"
_legacy_noted: set[Path] = set()


def default_home() -> Path:
    """The data folder: ``$DICOMLAB_HOME``, else the per-user data folder.

    The per-user folder is platformdirs' ``user_data_dir("dicomlab")``
    (``~/.local/share/dicomlab`` on Linux, or under ``$XDG_DATA_HOME``), the
    same from any working directory: a notebook run from ``notebooks/`` and a
    script run from the project root see one store, warehouse and bucket.

    >>> default_home().name                                         # doctest: +SKIP
    'dicomlab'
    """
    if configured := os.environ.get("DICOMLAB_HOME"):
        return Path(configured).expanduser().resolve()
    import platformdirs

    home = Path(platformdirs.user_data_dir("dicomlab", appauthor=False)).resolve()
    _note_legacy_home(home)
    return home


def _note_legacy_home(home: Path) -> None:
    """Say once where the data folder is when an older ``./dicomlab-data`` is here."""
    legacy = Path(LEGACY_HOME).resolve()
    if legacy in _legacy_noted or legacy == home or not (legacy / "warehouse.duckdb").exists():
        return
    _legacy_noted.add(legacy)
    warnings.warn(
        f"the data folder is now {home}, not {legacy}, whose warehouse is left as it was; "
        f"to keep using it, connect(home={str(legacy)!r}) or set DICOMLAB_HOME={legacy}",
        UserWarning,
        stacklevel=3,
    )


def sample_cohort_dir() -> Path:
    """Where pydicom keeps the multi-patient sample set."""
    import pydicom.data

    return Path(pydicom.data.__file__).parent / "test_files" / "dicomdirtests"


def _is_instance_file(path: Path) -> bool:
    """A Part 10 file ("DICM" after the preamble) that is not a DICOMDIR variant."""
    if not path.is_file() or path.name.startswith("DICOMDIR"):
        return False
    with path.open("rb") as handle:
        return handle.read(132)[128:] == b"DICM"


def sample_files() -> list[Path]:
    """The sample cohort's instance files, as pydicom ships them (81 files).

    >>> len(sample_files())
    81
    """
    return [p for p in sorted(sample_cohort_dir().rglob("*")) if _is_instance_file(p)]


def seed_sample_store(dest: Path) -> int:
    """Copy the sample cohort's instances (not its DICOMDIR indexes) into ``dest``.

    Does nothing when ``dest`` already holds files. The copy is made beside
    ``dest`` and renamed into place, so a half-copied store is never seen.
    Returns the number of files copied.
    """
    source = sample_cohort_dir()

    def copy(staging: Path) -> int:
        copied = 0
        for path in sorted(source.rglob("*")):
            if _is_instance_file(path):
                target = staging / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                copied += 1
        return copied

    copied = publish_folder(dest, copy)
    if copied is None:
        return 0  # it held files already (or another process seeded it first)
    logger.info("copied the %d-instance sample cohort into %s", copied, dest)
    return copied


def seed_gallery_store(dest: Path) -> int:
    """Write pydicom's distinct full-size test images (:data:`GALLERY_FILES`) into ``dest``.

    The sample cohort's pixels were downsampled to 16×16 by their publisher;
    these show the viewer on realistic images. Implicit VR files are written
    as Explicit VR Little Endian (the folder store's index needs it). Does
    nothing when ``dest`` already holds files; returns the number written.

    >>> import tempfile
    >>> seed_gallery_store(Path(tempfile.mkdtemp()) / "gallery")
    6
    """
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if dest.is_dir() and any(dest.iterdir()):
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for name in GALLERY_FILES:
        path = get_testdata_file(name, download=False)
        if path is None:
            logger.warning("pydicom's test file %s is missing; the gallery goes without it", name)
            continue
        with warnings.catch_warnings():
            # Some of these files carry test values pydicom warns about (a UID too long).
            warnings.simplefilter("ignore", UserWarning)
            ds = dcmread(path)
            if ds.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian:
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.save_as(dest / name, enforce_file_format=True)
        written += 1
    return written
