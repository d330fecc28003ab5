"""Downloading a cohort's instances to a folder, every file checked before it counts.

``folder/STUDY/SERIES/INSTANCE.dcm`` for each instance the rows of a
DataFrame name. Each instance is written to a temporary file beside its
target, flushed to disk, read back whole and checked
(:mod:`dicomlab.stores.integrity`), and only then linked or renamed into
place; a file already there is checked the same way and fetched again when
it fails. Work runs on the store's bounded thread pool
(:func:`dicomlab.stores.bulk.map_bounded`).
"""

from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dicomlab.core.validation import validate_count, validate_flag
from dicomlab.errors import (
    AlreadyExistsError,
    DicomlabError,
    DicomReadError,
    InstanceMismatchError,
    LocalFileError,
    ServerDownError,
)
from dicomlab.plumbing.atomic import write_file
from dicomlab.stores.base import InstanceRef
from dicomlab.stores.bulk import UID_COLUMNS, IndexedStore, expand_rows, is_present, map_bounded
from dicomlab.stores.integrity import check_instance, check_patient, read_checked

if TYPE_CHECKING:
    import pandas as pd
    from pydicom import Dataset

__all__ = ["DownloadResult", "InstanceSource", "download", "named_patients"]

logger = logging.getLogger(__name__)


class InstanceSource(IndexedStore, Protocol):
    """What downloading needs of a store."""

    @property
    def url(self) -> str: ...

    def fetch_instance(self, ref: InstanceRef) -> Dataset: ...


def _ref(record: dict[str, Any]) -> InstanceRef:
    return InstanceRef(*(str(record[c]) for c in UID_COLUMNS))


@dataclass
class DownloadResult:
    """What :func:`download` did: files written, already there, repaired, and failures.

    ``repaired`` lists files that were there but failed the check (cut short,
    not DICOM, or another instance) and were fetched again. The download is
    :attr:`complete` only when nothing failed.
    """

    folder: Path
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[Path] = field(default_factory=list)

    @property
    def counter(self) -> dict[str, int]:
        """``{"written": n, "skipped": m, "repaired": r, "failure": k}``."""
        return {
            "written": len(self.written),
            "skipped": len(self.skipped),
            "repaired": len(self.repaired),
            "failure": len(self.failures),
        }

    @property
    def complete(self) -> bool:
        """Whether every instance asked for is now in the folder, checked."""
        return not self.failures

    def __repr__(self) -> str:
        state = "complete" if self.complete else "INCOMPLETE"
        return f"DownloadResult(folder={str(self.folder)!r}, {self.counter}, {state})"


def _save(dataset: Any, target: Path, ref: InstanceRef, *, replace: bool) -> None:
    """Write a Part 10 file that is checked on disk before it takes its name.

    Written beside ``target``, flushed to disk, read back whole and checked
    (complete, the UIDs of ``ref``), and only then given the name
    (:func:`~dicomlab.plumbing.atomic.write_file`): a crash or a bad answer
    never leaves a short file under the instance's name. An existing
    ``target`` is replaced only when ``replace``.
    """
    meta = getattr(dataset, "file_meta", None)
    part10 = bool(meta and "TransferSyntaxUID" in meta)

    def check(temporary: str) -> None:
        try:
            read_checked(temporary, ref)
        except DicomlabError as exc:
            raise DicomReadError(f"{target} was not written: {exc}", path=target) from exc

    target.parent.mkdir(parents=True, exist_ok=True)
    write_file(
        target,
        lambda handle: dataset.save_as(handle, enforce_file_format=part10),
        replace=replace,
        durable=True,
        check=check,
    )


def named_patients(df: pd.DataFrame) -> dict[InstanceRef, set[str]]:
    """The PatientIDs rows with all three UIDs name for each instance (none without the column)."""
    if "PatientID" not in df.columns:
        return {}
    named: dict[InstanceRef, set[str]] = {}
    for row in df.to_dict("records"):
        record = {str(k): v for k, v in row.items()}
        if all(is_present(record.get(c)) for c in (*UID_COLUMNS, "PatientID")):
            named.setdefault(_ref(record), set()).add(str(record["PatientID"]))
    return named


def _existing_is_good(target: Path, ref: InstanceRef, patient: str | None) -> bool:
    """Whether ``target`` holds the whole instance ``ref``; a bad file is logged."""
    try:
        check_patient(ref, read_checked(target, ref), patient, str(target))
    except (DicomReadError, InstanceMismatchError) as exc:
        logger.warning("fetching %s again: %s", target, exc)
        return False
    return True


def _download_one(
    store: InstanceSource, ref: InstanceRef, folder: Path, overwrite: bool, patient: str | None
) -> tuple[str, Any]:
    """``(outcome, path or error)`` for one instance; see :func:`download`."""
    target = folder / ref.study / ref.series / f"{ref.instance}.dcm"
    repair = False
    if target.exists() and not overwrite:
        if _existing_is_good(target, ref, patient):
            return "skipped", target
        repair = True
    try:
        dataset = store.fetch_instance(ref)
        source = f"the instance {store.url} returned"
        check_instance(ref, dataset, source)
        check_patient(ref, dataset, patient, source)
        _save(dataset, target, ref, replace=overwrite or repair)
    except AlreadyExistsError:  # written meanwhile by another download: checked as any
        if _existing_is_good(target, ref, patient):
            return "skipped", target
        return "failed", f"{target} appeared meanwhile and fails the check"
    except ServerDownError as exc:
        return "down", exc
    except (DicomlabError, OSError, ValueError) as exc:
        return "failed", exc
    return ("repaired" if repair else "written"), target


def _clash(ref: InstanceRef, patients: set[str]) -> str:
    return (
        f"rows name instance {ref.instance!r} (study {ref.study!r}, series {ref.series!r}) "
        f"for patients {sorted(patients)}: two instances share these UIDs and cannot both be "
        "saved under one name; nothing was saved for it; tell them apart in the store first"
    )


def _server_down(result: DownloadResult, error: ServerDownError, total: int) -> ServerDownError:
    """One error for a download stopped by a server that is down, with what was done."""
    done = len(result.written) + len(result.skipped) + len(result.repaired)
    return ServerDownError(
        f"download to {str(result.folder)!r} stopped: {error} ({done} of {total} instances "
        "are in the folder, checked; run the same download again to fetch the rest)",
        service=error.service,
        resource=error.resource,
        retry_at=error.retry_at,
    )


def _usable_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` resolved, refused up front when it (or the nearest existing parent) is a file.

    Otherwise every instance would fail on its own and the cause be lost in the count.
    """
    path = Path(folder).expanduser().resolve()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise LocalFileError(
            f"download folder {str(path)!r}: {str(existing)!r} is a file, not a folder; "
            "give a folder path (it is made when missing)",
            errno=errno.ENOTDIR,
            filename=str(existing),
        )
    return path


def download(
    store: InstanceSource,
    df: pd.DataFrame,
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> DownloadResult:
    """Save every instance the rows name as ``folder/STUDY/SERIES/INSTANCE.dcm``.

    Every instance is checked before it counts (complete, readable, the UIDs
    asked for, and the row's PatientID when it has one): written to a
    temporary file, flushed, read back, then renamed. Rows naming one
    instance (same three UIDs) for different patients fail: one file cannot
    be both.

    A file already there is checked too: a good one is skipped (never
    replaced unless ``overwrite=True``); one that fails the check is fetched
    again and listed in ``result.repaired``. An instance that cannot be
    fetched, or comes back wrong, is a failure in the result (nothing is
    written for it) and the others are still saved; ``result.complete`` is
    then false.

    Raises
    ------
    LocalFileError
        ``folder`` is a file (or lies under one); nothing is fetched.
    ServerDownError
        The server failed request after request (see ``DICOMwebStore``'s
        circuit breaker); files written so far are kept.

    Examples
    --------
    >>> cohort = lab.query("patient_dicomweb_paths", patient_id="77654033")
    >>> result = download(lab.store, cohort, "cohort-files", progress=False)
    >>> result.complete, result.counter
    (True, {'written': 7, 'skipped': 0, 'repaired': 0, 'failure': 0})
    >>> download(lab.store, cohort, "cohort-files", progress=False).counter
    {'written': 0, 'skipped': 7, 'repaired': 0, 'failure': 0}
    """
    overwrite = validate_flag(overwrite, "overwrite")  # "no" must not replace files
    progress = validate_flag(progress, "progress")
    if workers is not None:
        validate_count(workers, "workers", hint="how many instances are fetched at once")
    target = _usable_folder(folder)  # before anything is fetched
    refs, failures = expand_rows(df, store)
    patients = named_patients(df)
    for ref, named in patients.items():
        if len(named) > 1:  # one name, one file: which of them is meant cannot be known
            refs.remove(ref)
            failures.append((ref.instance, _clash(ref, named)))
    result = DownloadResult(target, failures=failures)
    workers = workers or store.thumbnail_concurrency

    def one(ref: InstanceRef) -> tuple[str, Any]:
        named = patients.get(ref)
        patient = next(iter(named)) if named else None
        return _download_one(store, ref, result.folder, overwrite, patient)

    outcomes = map_bounded(
        one, refs, workers=workers, desc="Download", unit="instance", progress=progress
    )
    down: ServerDownError | None = None
    for (outcome, value), ref in zip(outcomes, refs, strict=True):
        if outcome in ("written", "skipped", "repaired"):
            getattr(result, outcome).append(Path(value))
        else:
            down = value if outcome == "down" else down
            result.failures.append((ref.instance, str(value)))
    if down is not None:
        raise _server_down(result, down, len(refs)) from down
    if not result.complete:
        logger.warning("%s: %d instances not downloaded", result.folder, len(result.failures))
    return result
