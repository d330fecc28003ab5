"""The de-identification of one Lab: key, reverse map, census and image rule."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Callable, Mapping
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
from dicomlab.errors import DicomlabError
from dicomlab.share.files import read_census, read_key, read_map, write_private
from dicomlab.share.logs import register

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.warehouses.base import Warehouse

__all__ = ["ShareMode", "share_banner"]

_UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_TAG = re.compile(r"[0-9A-Fa-f]{8}")  # a DICOM JSON key


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
        self.pseudo = Pseudonymizer(read_key(self.folder / "key"), read_map(self.folder))
        self._saved = len(self.pseudo.reverse)
        self._census: pd.DataFrame | None = None
        self._patient: Callable[[Mapping[str, Any]], str | None] = patient_lookup([])
        self._pixels: dict[str, bool] = {}
        register(self)

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
        """Write the reverse map when it has grown (0600: it undoes the pseudonyms).

        What another Lab on the same data folder saved meanwhile is kept: the
        map on disk and this one are merged (a pseudonym always stands for the
        same value under one key, so the two never disagree).
        """
        if len(self.pseudo.reverse) != self._saved:
            with contextlib.suppress(DicomlabError):  # a damaged map is replaced whole
                for fake, real in read_map(self.folder).items():
                    self.pseudo.reverse.setdefault(fake, real)
            data = json.dumps(self.pseudo.reverse, sort_keys=True).encode()
            write_private(self.folder / "reverse.json", data)
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
                # object and pandas' own string columns (a CSV read with dtype=str) alike
                if pd.api.types.is_string_dtype(out[column].dtype):
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
    return isinstance(key, str) and _TAG.fullmatch(key) is not None


def _replace_strings(value: Any, convert: Callable[[Any], Any]) -> Any:
    """A frozen dataclass with its string, dict and list fields converted."""
    changes = {
        f.name: convert(getattr(value, f.name))
        for f in dataclasses.fields(value)
        if f.init and isinstance(getattr(value, f.name), (str, Mapping, list, tuple))
    }
    return dataclasses.replace(value, **changes)


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
