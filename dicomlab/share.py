"""Share mode: what leaves a Lab is de-identified, what comes back is mapped to real values.

A :class:`ShareMode` belongs to one Lab. It keeps its secret key and the map
from pseudonyms back to real values in ``HOME/share/`` (file mode 0600, never
printed), learns the identifying values of the metadata table (the *census*),
and offers two directions: :meth:`ShareMode.shown` for anything on its way to
the user (DataFrames, text, records, pydicom datasets) and
:meth:`ShareMode.real` for anything coming back (DataFrames, filter files,
UIDs, URIs). :class:`ShareProxy` puts a store, warehouse or bucket behind
both directions, so the widgets see only pseudonyms while the adapters work
on the real data. Which attributes identify is :mod:`dicomlab.core.deid`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.core.deid import (
    Pseudonymizer,
    action_for,
    has_value,
    may_show_pixels,
    patient_lookup,
)
from dicomlab.core.filterfile import FilterFile
from dicomlab.errors import DicomlabError, RenderError

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.warehouses.base import Warehouse

__all__ = [
    "SHARE_ENV",
    "ShareDecisionLog",
    "ShareMode",
    "ShareProxy",
    "parse_share",
    "read_census",
]

logger = logging.getLogger(__name__)
SHARE_ENV = "DICOMLAB_SHARE"
# The table's columns vary by store (read_census reads its header first).
_HEADER_SQL = "SELECT * FROM dicom_metadata LIMIT 0"
_CENSUS_EXTRA = ("Modality", "BurnedInAnnotation")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PIXEL_METHODS = ("fetch_thumbnail", "fetch_rendered", "fetch_instance", "fetch_frames")
_UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_TAG = re.compile(r"[0-9A-Fa-f]{8}")  # a DICOM JSON key
_ACTIVE: weakref.WeakSet[ShareMode] = weakref.WeakSet()


def parse_share(value: Any) -> bool | str:
    """``False``, ``True`` or ``"images"`` from a ``share=`` argument or ``$DICOMLAB_SHARE``.

    >>> parse_share("1"), parse_share("images"), parse_share(None), parse_share("off")
    (True, 'images', False, False)
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    text = str(value).strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    if text == "images":
        return "images"
    raise DicomlabError(
        f"share mode {value!r} is not known: use share=True (identifiers hidden, risky images "
        f"withheld), share='images' (images shown too) or share=False; {SHARE_ENV} takes "
        "1, images or 0"
    )


def _private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600 from the start)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(path.with_suffix(".tmp"), path)


def read_census(warehouse: Warehouse, table: str) -> pd.DataFrame | None:
    """The metadata table's identifying columns (with Modality and BurnedInAnnotation).

    ``None`` when the table does not exist yet. The header is read first (no
    rows), then only those columns, so a large BigQuery table is not scanned whole.
    """
    if warehouse.count_rows(table) is None:
        return None
    empty = warehouse.run_sql(_HEADER_SQL, {}, table=table)
    wanted = [
        str(c)
        for c in empty.columns
        if _IDENTIFIER.fullmatch(str(c)) and (action_for(str(c)) or c in _CENSUS_EXTRA)
    ]
    if not wanted:
        return empty
    columns = ", ".join(f"`{c}`" for c in wanted)
    census: pd.DataFrame = warehouse.run_sql(
        f"SELECT {columns} FROM dicom_metadata", {}, table=table
    )
    return census


def _read_key(path: Path) -> bytes:
    """The data folder's key, made on first use; two processes starting at once share one."""
    if not path.exists():
        draft = path.with_name(f".key-{os.getpid()}")
        _private_file(draft, secrets.token_bytes(32))
        try:
            os.link(draft, path)  # fails if another process made the key first: keep theirs
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_bytes()
    if len(key) < 16:
        raise DicomlabError(
            f"the share-mode key {str(path)!r} is damaged ({len(key)} bytes): restore it from a "
            "backup; deleting it makes a new key, and every pseudonym changes"
        )
    return key


def _read_map(folder: Path) -> dict[str, str]:
    """The saved map from pseudonyms back to real values (``{}`` when there is none)."""
    path = folder / "reverse.json"
    if not path.exists():
        return {}
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DicomlabError(
            f"the share-mode map {str(path)!r} cannot be read ({exc}): delete it; the values "
            "of the metadata table are mapped again from the key"
        ) from exc
    return {str(k): str(v) for k, v in known.items()}


class ShareMode:
    """The de-identification of one Lab: key, reverse map, census and image rule.

    Parameters
    ----------
    home
        The data folder; the key and the reverse map live in ``home/share``.
    warehouse, table
        Where the metadata table is (its identifying values are learned from it).
    images
        ``True`` shows every image; ``False`` withholds those that may carry
        burned-in text (:func:`dicomlab.core.deid.may_show_pixels`).
    """

    def __init__(
        self, home: Path, warehouse: Warehouse, table: str, *, images: bool = False
    ) -> None:
        self.folder = Path(home) / "share"
        self._warehouse, self.table, self.images = warehouse, table, images
        self.pseudo = Pseudonymizer(_read_key(self.folder / "key"), _read_map(self.folder))
        self._saved = len(self.pseudo.reverse)
        self._census: pd.DataFrame | None = None
        self._patient: Callable[[Mapping[str, Any]], str | None] = patient_lookup([])
        self._pixels: dict[str, bool] = {}
        _ACTIVE.add(self)
        _install_log_filter()

    def __repr__(self) -> str:
        return f"ShareMode(images={'shown' if self.images else 'checked'})"

    # ---- the census: identifying values of the metadata table -----------------------------

    def census(self, refresh: bool = False) -> pd.DataFrame | None:
        """The metadata table (``None`` before it is exported); learned once, then kept."""
        if self._census is not None and not refresh:
            return self._census
        table = read_census(self._warehouse, self.table)
        if table is None:
            return None
        records = [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
        self._patient = patient_lookup(records)
        for row in records:
            patient = self._patient(row)
            self.pseudo.learn(
                (key, value, patient) for key, value in row.items() if action_for(str(key))
            )
            if row.get("SOPInstanceUID") is not None:
                allowed = may_show_pixels(row.get("BurnedInAnnotation"), row.get("Modality"))
                self._pixels[str(row["SOPInstanceUID"])] = allowed
        self._census = table
        self.save()
        return table

    def save(self) -> None:
        """Write the reverse map when it has grown (0600: it undoes the pseudonyms)."""
        if len(self.pseudo.reverse) != self._saved:
            data = json.dumps(self.pseudo.reverse, sort_keys=True).encode()
            _private_file(self.folder / "reverse.json", data)
            self._saved = len(self.pseudo.reverse)

    def may_show(self, instance: str) -> bool:
        """Whether the image of ``instance`` (a real SOPInstanceUID) may be shown."""
        if self.images:
            return True
        self.census()
        return self._pixels.get(instance, False)

    # ---- toward the user ------------------------------------------------------------------

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """A de-identified copy of ``df``, its ``attrs`` (the query behind it) too."""
        import pandas as pd

        self.census()
        keys = [c for c in ("PatientID", *_UID_KEYS) if c in df.columns]
        records = df[keys].to_dict("records") if keys else [{}] * len(df)
        patients = [self._patient(r) for r in records]
        columns: dict[Any, pd.Series] = {}
        for column in df.columns:
            key = str(column)
            dated = action_for(key) == "date" or pd.api.types.is_datetime64_any_dtype(df[column])
            values = self._column(key, df[column].tolist(), patients, dated)
            shown = pd.Series(values, index=df.index, dtype=object)
            if pd.api.types.is_datetime64_any_dtype(df[column]):
                shown = pd.to_datetime(shown)  # still a datetime column, for plots and sorting
            columns[self.pseudo.scrub(key)] = shown
        out: pd.DataFrame = pd.DataFrame(columns, index=df.index)
        out.index = df.index.map(lambda v: self.shown(v) if isinstance(v, str) else v)
        # What produced the frame (read back by provenance records) is shown de-identified
        # too, and mapped back by real() when the frame comes back.
        out.attrs.update(self.shown(dict(df.attrs)))
        self.save()
        return out

    def _column(
        self, key: str, values: list[Any], patients: list[str | None], dated: bool
    ) -> list[Any]:
        """One column's values as shown; each distinct value is worked out once."""
        done: dict[Any, Any] = {}
        shown = []
        for value, patient in zip(values, patients, strict=True):
            # Only a date depends on its row's patient; other values map the same everywhere.
            memo = (value, patient) if dated else value
            try:
                shown.append(done[memo])
                continue
            except (KeyError, TypeError):  # not seen yet, or unhashable (a list, a struct)
                pass
            if dated and has_value(value):
                result = self.pseudo.shift(value, patient)
            else:
                result = self.pseudo.value(key, value, patient)
            with contextlib.suppress(TypeError):
                done[memo] = result
            shown.append(result)
        return shown

    def dataset(self, ds: Any) -> Any:
        """A de-identified shallow copy of a pydicom Dataset (pixels kept, private tags gone)."""
        from pydicom.dataelem import DataElement
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.sequence import Sequence
        from pydicom.uid import UID

        self.census()
        patient = self._patient({"PatientID": ds.get("PatientID")}) if "PatientID" in ds else None
        # A new element mapping: Dataset.copy() shares its elements' dict with the original,
        # which must stay as the store gave it (its cache, the next caller).
        new = Dataset(dict(ds.items()))
        implicit, little = ds.original_encoding
        if implicit is not None and little is not None:
            new.set_original_encoding(implicit, little, ds.original_character_set)
        for elem in list(ds):
            action = action_for(elem.keyword)
            if elem.tag.is_private or action == "text":
                del new[elem.tag]
            elif elem.VR == "SQ":
                items = [self.dataset(item) for item in elem.value]
                new[elem.tag] = DataElement(elem.tag, "SQ", Sequence(items))
            elif action is not None and elem.value not in (None, ""):
                raw = list(elem.value) if elem.VM > 1 else [elem.value]
                shown = [str(self.pseudo.value(elem.keyword, str(v), patient)) for v in raw]
                new[elem.tag] = DataElement(elem.tag, elem.VR, shown if elem.VM > 1 else shown[0])
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            new.file_meta = FileMetaDataset(dict(meta.items()))
            if "MediaStorageSOPInstanceUID" in meta:
                new.file_meta.MediaStorageSOPInstanceUID = UID(
                    self.pseudo.uid(str(meta.MediaStorageSOPInstanceUID))
                )
        return new

    def shown(self, value: Any) -> Any:
        """``value`` as it may reach the user: DataFrames, text, records, datasets de-identified."""
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return self.frame(value)
        if isinstance(value, str):
            self.census()
            return self.pseudo.scrub(value)
        if isinstance(value, Mapping) and value and all(_is_tag(k) for k in value):
            return self._dicom_json(value)
        if isinstance(value, Mapping):
            self.census()
            patient = self._patient({str(k): v for k, v in value.items()})
            return {self.shown(k): self._shown_item(str(k), v, patient) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.shown(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _replace_strings(value, self.shown)
        if type(value).__name__ in ("Dataset", "FileDataset"):
            return self.dataset(value)
        return value

    def _dicom_json(self, dataset: Mapping[str, Any]) -> dict[str, Any]:
        """A DICOM JSON dataset (PS3.18 F.2) de-identified: the same rules, keyed by tag."""
        from pydicom.datadict import keyword_for_tag

        self.census()
        patient_id = dataset.get("00100020", {}).get("Value", [None])[0]
        patient = self._patient({"PatientID": patient_id})
        out: dict[str, Any] = {}
        for tag, attribute in dataset.items():
            if int(tag[:4], 16) % 2:  # a private group: removed, as the profile does
                continue
            keyword = keyword_for_tag(int(tag, 16))
            values = attribute.get("Value") if isinstance(attribute, Mapping) else None
            if values is None:
                out[tag] = attribute
                continue
            if attribute.get("vr") == "SQ":
                shown = [self.shown(item) for item in values]
            elif action_for(keyword) == "text":
                shown = []
            elif attribute.get("vr") == "PN":
                shown = [
                    {"Alphabetic": self.pseudo.value(keyword or "PersonName", dict(v), patient)}
                    for v in values
                ]
            elif action_for(keyword) is not None:
                shown = [self.pseudo.value(keyword, v, patient) for v in values]
            else:
                shown = [self.shown(v) for v in values]
            out[tag] = {**attribute, "Value": shown} if shown else {"vr": attribute.get("vr")}
        return out

    def _shown_item(self, key: str, value: Any, patient: str | None) -> Any:
        if action_for(key) is not None and not isinstance(value, (Mapping, list, tuple)):
            return self.pseudo.value(key, value, patient)
        return self.shown(value)

    # ---- back from the user ---------------------------------------------------------------

    def real(self, value: Any) -> Any:
        """``value`` with every pseudonym in it mapped back to the real value."""
        import pandas as pd

        if isinstance(value, str):
            return self.pseudo.real(value)
        if isinstance(value, pd.DataFrame):
            out = value.copy()
            for column in out.columns:
                if out[column].dtype == object:
                    out[column] = [self.real(v) for v in out[column].tolist()]
            out.attrs = self.real(dict(value.attrs))
            return out
        if isinstance(value, FilterFile):
            return FilterFile(self.pseudo.real(line) for line in value.lines)
        if isinstance(value, Mapping):
            return {self.real(k): self.real(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.real(v) for v in value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return _replace_strings(value, self.real)
        return value


def _is_tag(key: Any) -> bool:
    return (
        isinstance(key, str) and len(key) == 8 and all(c in "0123456789ABCDEFabcdef" for c in key)
    )


def _replace_strings(value: Any, convert: Callable[[Any], Any]) -> Any:
    """A frozen dataclass with its string, dict and list fields converted."""
    changes = {
        f.name: convert(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if f.init and isinstance(getattr(value, f.name), (str, Mapping, list, tuple))
    }
    return dataclasses.replace(value, **changes)


class ShareProxy:
    """A store, warehouse or bucket seen through a :class:`ShareMode`.

    Arguments go through :meth:`ShareMode.real`, results through
    :meth:`ShareMode.shown`; images that may carry burned-in text raise
    :class:`~dicomlab.errors.RenderError` (a labelled placeholder in the
    widgets) unless the mode shows images. Error messages are scrubbed too.
    """

    def __init__(self, target: Any, share: ShareMode) -> None:
        self._target, self._share = target, share

    def __repr__(self) -> str:
        return f"{self._share.shown(repr(self._target))} (share mode)"

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return self._share.shown(attribute) if isinstance(attribute, str) else attribute
        share = self._share
        if name == "fetch_thumbnails":
            return self._thumbnails

        def call(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = share.real(args), share.real(kwargs)
            if name in _PIXEL_METHODS and args:
                ref = args[0]
                instance = getattr(ref, "instance", None)
                if instance is not None and not share.may_show(str(instance)):
                    raise RenderError(
                        f"image withheld in share mode (instance {share.shown(str(instance))}): "
                        "it may carry burned-in text; connect with share='images' to show it"
                    )
            try:
                result = attribute(*args, **kwargs)
            except DicomlabError as exc:
                scrub_exception(exc, share)
                raise
            return share.shown(result)

        return call

    def _thumbnails(self, df: pd.DataFrame, **options: Any) -> list[bytes | None]:
        """The store's ``fetch_thumbnails``, each image fetched through this proxy.

        So a withheld image becomes the store's labelled placeholder saying why.
        The rows are the shown ones, matched against the searches' shown UIDs.
        """
        from dicomlab.stores.bulk import fetch_thumbnails

        rows = self._share.shown(self._share.real(df))
        return fetch_thumbnails(self, rows, **options)


class ShareDecisionLog:
    """A review's decision log seen through a :class:`ShareMode`.

    The review works on shown hits, so its decisions name pseudonyms: they are
    written with the real UIDs, and read back shown (the decision times as
    they were: they are the reviewers', not the patients').
    """

    def __init__(self, log: Any, share: ShareMode) -> None:
        self._log, self._share = log, share
        self.table: str = log.table

    def __repr__(self) -> str:
        return f"{self._share.shown(repr(self._log))} (share mode)"

    @property
    def warehouse(self) -> Any:
        """The log's warehouse, seen through the mode."""
        return ShareProxy(self._log.warehouse, self._share)

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write ``rows`` with their pseudonyms mapped back to the real UIDs."""
        self._log.append([self._share.real(dict(row)) for row in rows])

    def history(self, review: str) -> pd.DataFrame:
        """Every decision of ``review``, shown."""
        found = self._log.history(review)
        shown: pd.DataFrame = self._share.frame(found)
        if "decided_at" in found:
            shown["decided_at"] = found["decided_at"].to_numpy()
        return shown


def scrub_exception(exc: BaseException, share: ShareMode) -> BaseException:
    """``exc`` with the text of its message, its text fields and its causes de-identified."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        seen.args = tuple(share.shown(a) if isinstance(a, str) else a for a in seen.args)
        for name, value in vars(seen).items():
            if isinstance(value, (str, list)):  # uid, paths, resource, filename...
                setattr(seen, name, share.shown(value))
        seen = seen.__cause__ or seen.__context__
    return exc


_RECORD_FACTORY: Callable[..., logging.LogRecord] | None = None


def _install_log_filter() -> None:
    """Rewrite every dicomlab log record through the live share modes, once per process.

    A record factory sees the records of loggers made later too (filters on a
    logger reach neither its children nor loggers created after them); records
    of other libraries are left alone.
    """
    global _RECORD_FACTORY
    if _RECORD_FACTORY is not None:
        return
    previous = _RECORD_FACTORY = logging.getLogRecordFactory()

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        modes = list(_ACTIVE)
        if modes and record.name.split(".")[0] == "dicomlab":
            try:
                text = record.getMessage()
            except Exception:  # a bad format is logging's to report when it emits, not ours
                return record
            for mode in modes:
                text = mode.pseudo.scrub(text)
            record.msg, record.args = text, ()
        return record

    logging.setLogRecordFactory(make)


def share_banner(share: bool | str) -> str:
    """The line a Lab's HTML display shows in share mode (empty when it is off).

    >>> share_banner(False), "share mode" in share_banner(True)
    ('', True)
    """
    if not share:
        return ""
    images = "all images shown" if share == "images" else "images that may carry text withheld"
    return (
        '<div style="background:#fff3cd;border:1px solid #e0b000;padding:2px 6px;">'
        f"<b>share mode</b>: identifiers de-identified (PS3.15), {images}</div>"
    )
