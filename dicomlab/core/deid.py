"""De-identification for share mode: which attributes identify, and keyed pseudonyms.

Which attributes identify a patient follows DICOM PS3.15 (2024c), Annex E,
Table E.1-1, the Basic Application Level Confidentiality Profile, with two of
its options: *Retain Longitudinal Temporal Information with Modified Dates*
(dates are shifted, not removed, so intervals stay true) and *Retain Patient
Characteristics* (sex, age, size and weight stay). The table below lists the
profile's attributes that dicomlab's metadata tables and displays carry; any
other string is scrubbed of the identifying values a :class:`Pseudonymizer`
has seen (:meth:`Pseudonymizer.scrub`).

Pseudonyms are HMAC-SHA256 of the value under a secret key: the same value
always gets the same pseudonym under one key, and only the key's owner can map
back (by recomputing, or with the reverse map kept next to the key).

>>> p = Pseudonymizer(b"k" * 32)
>>> p.uid("1.2.3") == p.uid("1.2.3") != "1.2.3"
True
>>> p.uid("1.2.3").startswith("2.25.") and p.real(p.uid("1.2.3"))
'1.2.3'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "BURNED_IN_MODALITIES",
    "DATES",
    "IDS",
    "NAMES",
    "PROFILE",
    "TEXT",
    "UIDS",
    "Pseudonymizer",
    "action_for",
    "has_value",
    "may_show_pixels",
]


def _keywords(text: str) -> frozenset[str]:
    return frozenset(text.split())


PROFILE = (
    "DICOM PS3.15 Annex E, Table E.1-1 (Basic Application Level Confidentiality Profile), "
    "with the Retain Longitudinal Temporal Information with Modified Dates and the "
    "Retain Patient Characteristics options"
)
# U in Table E.1-1: replaced by another UID, consistently.
UIDS = _keywords(
    """
    StudyInstanceUID SeriesInstanceUID SOPInstanceUID MediaStorageSOPInstanceUID
    ReferencedSOPInstanceUID FrameOfReferenceUID ReferencedFrameOfReferenceUID
    SynchronizationFrameOfReferenceUID RelatedFrameOfReferenceUID InstanceCreatorUID
    IrradiationEventUID StorageMediaFileSetUID DimensionOrganizationUID ConcatenationUID
    TargetUID UID ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
    TransactionUID DoseReferenceUID FiducialUID
    """
)
# D/Z/X identifiers: kept linkable as keyed pseudonyms.
IDS = _keywords(
    """
    PatientID OtherPatientIDs IssuerOfPatientID AccessionNumber StudyID MedicalRecordLocator
    PerformedProcedureStepID RequestedProcedureID ScheduledProcedureStepID
    DeviceSerialNumber StationName PlateID CassetteID GantryID DetectorID
    FillerOrderNumberImagingServiceRequest PlacerOrderNumberImagingServiceRequest
    AdmissionID ServiceEpisodeID PatientInsurancePlanCodeSequence MilitaryRank
    BranchOfService
    """
)
# Person and institution names: pseudonyms too (a reader may tell two apart, not who).
NAMES = _keywords(
    """
    PatientName OtherPatientNames PatientBirthName PatientMotherBirthName
    ReferringPhysicianName PerformingPhysicianName NameOfPhysiciansReadingStudy
    OperatorsName PhysiciansOfRecord RequestingPhysician ScheduledPerformingPhysicianName
    InstitutionName InstitutionAddress InstitutionalDepartmentName ResponsiblePerson
    ResponsibleOrganization ContentCreatorName ReviewerName VerifyingObserverName PersonName
    ConsultingPhysicianName PatientAddress PatientTelephoneNumbers ReferringPhysicianAddress
    ReferringPhysicianTelephoneNumbers
    """
)
# X: free text and private data, removed.
TEXT = _keywords(
    """
    StudyDescription SeriesDescription ImageComments PatientComments
    AdditionalPatientHistory RequestedProcedureDescription PerformedProcedureStepDescription
    ProtocolName DerivationDescription AdmittingDiagnosesDescription Occupation
    ReasonForStudy ReasonForTheRequestedProcedure RequestedContrastAgent RequestingService
    StudyComments InterpretationText TextValue OtherElements MedicalAlerts Allergies
    EthnicGroup PatientReligiousPreference CountryOfResidence RegionOfResidence PatientState
    ResultsComments AcquisitionComments ContrastBolusAgent IdentifyingComments
    """
)
# DA and DT attributes: shifted by the patient's offset (times of day are kept).
DATES = _keywords(
    """
    StudyDate SeriesDate AcquisitionDate ContentDate InstanceCreationDate PatientBirthDate
    PerformedProcedureStepStartDate PerformedProcedureStepEndDate AcquisitionDateTime
    StudyDateTime SeriesDateTime ContentDateTime LastUpdated OverlayDate CurveDate
    ScheduledProcedureStepStartDate
    """
)
# Modalities whose images often carry burned-in text when BurnedInAnnotation is absent.
BURNED_IN_MODALITIES = frozenset({"US", "SC", "OT", "XA", "ES", "XC", "GM", "DOC", "RF"})
_PRIVATE_COLUMN = re.compile(r"Tag_[0-9A-Fa-f]{3}[13579BDFbdf][0-9A-Fa-f]{4}")  # odd group
_DATE_NAME = re.compile(r"(Date|DateTime)$")
_BOUNDARY_BEFORE = r"(?<![0-9A-Za-z])"
_BOUNDARY_AFTER = r"(?![0-9A-Za-z])"
_BOUNDARY_AFTER_UID = r"(?![0-9A-Za-z]|\.[0-9])"
_UID_LIKE = re.compile(r"[0-9]+(?:\.[0-9]+)+")


def action_for(keyword: str) -> str | None:
    """``"uid"``, ``"id"``, ``"name"``, ``"text"``, ``"date"`` or ``None`` (kept) for a keyword.

    >>> action_for("PatientID"), action_for("StudyDate"), action_for("Modality")
    ('id', 'date', None)
    >>> action_for("Tag_00491001"), action_for("Tag_00280000")   # private, then public group
    ('text', None)
    """
    for action, keywords in (("uid", UIDS), ("id", IDS), ("name", NAMES), ("text", TEXT)):
        if keyword in keywords:
            return action
    if _PRIVATE_COLUMN.fullmatch(keyword):  # a private tag's column: removed, as in the profile
        return "text"
    if keyword in DATES or _DATE_NAME.search(keyword):
        return "date"
    return None


def may_show_pixels(burned_in: Any, modality: Any) -> bool:
    """Whether an image may be shown in share mode without risk of burned-in text.

    ``BurnedInAnnotation`` ``"YES"`` hides it; when that attribute is absent,
    so do the modalities in :data:`BURNED_IN_MODALITIES` and an unknown modality.

    >>> may_show_pixels("NO", "US"), may_show_pixels(None, "CT"), may_show_pixels(None, "US")
    (True, True, False)
    """
    flag = str(burned_in).strip().upper() if has_value(burned_in) else ""
    if flag == "YES":
        return False
    if flag == "NO":
        return True
    if not has_value(modality):
        return False
    return str(modality).strip().upper() not in BURNED_IN_MODALITIES


def has_value(value: Any) -> bool:
    """Whether ``value`` is there: not ``None``, NaN, NaT, NA or empty text (arrays are).

    >>> has_value(float("nan")), has_value(""), has_value([]), has_value("x")
    (False, False, True, True)
    """
    if value is None or type(value).__name__ in ("NaTType", "NAType"):
        return False
    if isinstance(value, float):
        return value == value  # NaN is the one float unequal to itself
    if isinstance(value, str):
        return value not in ("", "nan", "NaT", "<NA>", "None")
    return True


class Pseudonymizer:
    """Keyed, consistent pseudonyms and date offsets, with the map back to real values.

    Parameters
    ----------
    key
        The secret (at least 16 bytes). Never shown: ``repr`` names no key.
    known
        Pseudonym -> real value pairs made earlier (the saved reverse map).

    Examples
    --------
    >>> p = Pseudonymizer(b"secret-key-of-the-lab-owner-0001")
    >>> p.pseudonym("77654033", "id") == p.pseudonym("77654033", "id")
    True
    >>> a, b = dt.date(2001, 1, 1), dt.date(2001, 1, 31)
    >>> (p.shift(b, "77654033") - p.shift(a, "77654033")).days
    30
    """

    def __init__(self, key: bytes, known: Mapping[str, str] | None = None) -> None:
        if len(key) < 16:
            raise ValueError("a share-mode key must have at least 16 bytes")
        self._key = key
        self.reverse: dict[str, str] = dict(known or {})
        self._forward: dict[str, str] = {v: k for k, v in self.reverse.items()}
        self._pattern: re.Pattern[str] | None = None
        self._back_pattern: re.Pattern[str] | None = None

    def __repr__(self) -> str:
        return f"Pseudonymizer({len(self.reverse)} pseudonyms)"

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()

    def _remember(self, real: str, fake: str) -> str:
        if real not in self._forward:
            self._forward[real] = fake
            self.reverse[fake] = real
            self._pattern = self._back_pattern = None
        return fake

    def uid(self, value: str) -> str:
        """A valid UID under the ``2.25.`` root (PS3.5 B.2) for ``value``: 128 bits of its HMAC."""
        number = int.from_bytes(self._digest("uid", value)[:16], "big") or 1
        return self._remember(value, f"2.25.{number}")

    def pseudonym(self, value: str, kind: str = "id") -> str:
        """``ID-…`` for identifiers, ``NAME-…`` for names: 12 base-32 characters of the HMAC."""
        import base64

        code = base64.b32encode(self._digest(kind, value)).decode()[:12]
        return self._remember(value, f"{'NAME' if kind == 'name' else 'ID'}-{code}")

    def offset(self, patient: str | None) -> int:
        """Days this patient's dates move back: 1 to 3650, never 0, the same for all their dates."""
        digest = self._digest("date", "" if patient is None else str(patient))
        return 1 + int.from_bytes(digest[:4], "big") % 3650

    def shift(self, value: Any, patient: str | None) -> Any:
        """``value`` (a date, datetime, Timestamp or ``YYYYMMDD``/``YYYY-MM-DD`` text) moved back.

        >>> Pseudonymizer(b"k" * 16).shift("20010101", "p")[:2]
        '19'
        """
        delta = dt.timedelta(days=self.offset(patient))
        if isinstance(value, (dt.date, dt.datetime)) or hasattr(value, "to_pydatetime"):
            return value - delta
        text = str(value)
        for fmt in ("%Y%m%d", "%Y-%m-%d"):
            try:
                moved = dt.datetime.strptime(text[:10] if "-" in fmt else text[:8], fmt) - delta
            except ValueError:
                continue
            return moved.strftime(fmt) + text[len(moved.strftime(fmt)) :]
        return self.scrub(text)

    def value(self, keyword: str, value: Any, patient: str | None = None) -> Any:
        """One attribute's value as shown in share mode (lists and structs element-wise)."""
        if not has_value(value) or isinstance(value, bool):
            return value
        action = action_for(keyword)
        if action == "text":
            return None
        if isinstance(value, Mapping):
            if action in ("id", "name"):
                return self.pseudonym(_flatten_name(value), action)
            return {k: self.value(str(k), v, patient) for k, v in value.items()}
        if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
            items = value.tolist() if hasattr(value, "tolist") else value
            if isinstance(items, list):
                return [self.value(keyword, v, patient) for v in items]
        if action == "uid":
            return self.uid(str(value))
        if action in ("id", "name"):
            return self.pseudonym(str(value), action)
        if action == "date":
            return self.shift(value, patient)
        return self.scrub(value) if isinstance(value, str) else value

    def learn(self, values: Iterable[tuple[str, Any, str | None]]) -> None:
        """Make pseudonyms for ``(keyword, value, patient)`` so :meth:`scrub` finds them in text."""
        for keyword, value, patient in values:
            shown = self.value(keyword, value, patient)
            if action_for(keyword) == "date" and has_value(value):
                for fmt in ("%Y%m%d", "%Y-%m-%d"):
                    if hasattr(value, "strftime") and hasattr(shown, "strftime"):
                        self._remember(value.strftime(fmt), shown.strftime(fmt))
            elif isinstance(value, Mapping):
                for part in _name_parts(value):  # forward only: the parts undo to no one value
                    self._forward.setdefault(part, str(shown))
                self._pattern = None

    def scrub(self, text: str) -> str:
        """``text`` with every real value this pseudonymizer knows replaced by its pseudonym."""
        if self._pattern is None:
            self._pattern = _alternation(self._forward)
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._forward[m[0]], text)

    def real(self, text: str) -> str:
        """``text`` with every pseudonym replaced by its real value (the owner's way back)."""
        if text in self.reverse:
            return self.reverse[text]
        if self._back_pattern is None:
            self._back_pattern = _alternation(self.reverse)
        if self._back_pattern is None:
            return text
        return self._back_pattern.sub(lambda m: self.reverse[m[0]], text)


def _alternation(words: Mapping[str, str]) -> re.Pattern[str] | None:
    """One pattern matching any of ``words`` as a whole token, the longest first."""
    usable = sorted((w for w in words if len(w) >= 2), key=len, reverse=True)
    if not usable:
        return None
    # A UID ends where no ".digit" follows ("1.2.3" is not in "1.2.3.4"); any other
    # value where no letter or digit does ("77654033" is in "cohort-77654033.2026.json").
    uids = [w for w in usable if _UID_LIKE.fullmatch(w)]
    others = [w for w in usable if not _UID_LIKE.fullmatch(w)]
    parts = [
        f"(?:{'|'.join(re.escape(w) for w in group)}){after}"
        for group, after in ((uids, _BOUNDARY_AFTER_UID), (others, _BOUNDARY_AFTER))
        if group
    ]
    return re.compile(f"{_BOUNDARY_BEFORE}(?:{'|'.join(parts)})")


def _name_parts(value: Mapping[str, Any]) -> list[str]:
    """The non-empty leaves of a person name struct (``{"Alphabetic": {"FamilyName": …}}``)."""
    parts: list[str] = []
    for item in value.values():
        if isinstance(item, Mapping):
            parts.extend(_name_parts(item))
        elif has_value(item) and len(str(item)) >= 2:
            parts.append(str(item))
    return parts


def _flatten_name(value: Mapping[str, Any]) -> str:
    return "^".join(_name_parts(value))


def patient_lookup(rows: Iterable[Mapping[str, Any]]) -> Callable[[Mapping[str, Any]], str | None]:
    """A function giving a row's real PatientID, by its own or by any of its UIDs.

    >>> find = patient_lookup([{"PatientID": "p1", "StudyInstanceUID": "1.2"}])
    >>> find({"StudyInstanceUID": "1.2"}), find({"StudyInstanceUID": "9"})
    ('p1', None)
    """
    owners: dict[str, str] = {}
    for row in rows:
        patient = row.get("PatientID")
        if has_value(patient):
            for key in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
                if has_value(row.get(key)):
                    owners[str(row[key])] = str(patient)

    def find(row: Mapping[str, Any]) -> str | None:
        if has_value(row.get("PatientID")):
            return str(row["PatientID"])
        for key in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            if has_value(row.get(key)) and str(row[key]) in owners:
                return owners[str(row[key])]
        return None

    return find


def token_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern finding any of ``words`` as a whole token (``None`` when there are none).

    >>> token_pattern(["1.2.3"]).findall("1.2.3.4 and 1.2.3")
    ['1.2.3']
    """
    return _alternation(dict.fromkeys(words, ""))
