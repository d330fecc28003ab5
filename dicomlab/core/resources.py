"""Names of the things dicomlab talks to, parsed without I/O.

Each name is a frozen dataclass that validates itself and round-trips through
``str()`` and ``parse()``:

>>> t = BigQueryTable.parse("bq://my-project.imaging.dicom_metadata")
>>> t.dataset_id, str(t)
('imaging', 'bq://my-project.imaging.dicom_metadata')
>>> GcsUri.parse("gs://my-bucket/cohorts/lung.txt").object_name
'cohorts/lung.txt'
>>> str(HealthcareDicomStore.parse("projects/p/locations/us/datasets/d/dicomStores/s"))
'projects/p/locations/us/datasets/d/dicomStores/s'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dicomlab.errors import InvalidIdentifierError, InvalidResourceError

__all__ = [
    "HEALTHCARE_DATASET_PATTERN",
    "SQL_IDENTIFIER_RE",
    "BigQueryDataset",
    "BigQueryTable",
    "GcsUri",
    "HealthcareDicomStore",
    "validate_object_name",
    "validate_table_name",
]

# Google Cloud project IDs: 6-30 chars, lowercase letters, digits and hyphens, starting
# with a letter; legacy domain-scoped projects carry a "domain.com:" prefix.
_PROJECT = r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
_DATASET = r"[A-Za-z0-9_]{1,1024}"
# Letters, digits and underscores, not starting with a digit: a name that is safe as an SQL
# identifier on every warehouse without quoting rules of its own (tables, columns, parameters).
SQL_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The Healthcare API's BigQuery export accepts only such names, up to 1024 characters.
_TABLE_RE = re.compile(rf"(?=.{{1,1024}}\Z){SQL_IDENTIFIER_RE.pattern}", re.DOTALL)
_HC_PART = r"(?a:[\w-]+)"  # project and location: ASCII only
# Dataset and store IDs may hold Unicode letters, but are never only dots ('.', '..'
# would be path segments that HTTP clients normalise into another resource).
_HC_ID = r"(?!\.+(?:/|$))[\w.-]{1,256}"
# A Healthcare API dataset, the parent of its DICOM stores and of its operations.
HEALTHCARE_DATASET_PATTERN = (
    rf"projects/(?P<project>{_HC_PART}(?::{_HC_PART})?)/locations/(?P<location>{_HC_PART})"
    rf"/datasets/(?P<dataset>{_HC_ID})"
)
_BUCKET = r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"

_PROJECT_RE = re.compile(_PROJECT)
_DATASET_RE = re.compile(_DATASET)
_BUCKET_RE = re.compile(_BUCKET)
_BUCKET_PART_RE = re.compile(r"[a-z0-9_-]{1,63}")  # one dot-separated part of a dotted name
_HC_RE = re.compile(rf"{HEALTHCARE_DATASET_PATTERN}/dicomStores/(?P<store>{_HC_ID})")


def validate_table_name(name: object) -> str:
    """Return ``name`` if it is a valid table name, else raise.

    Table names are letters, digits and underscores, not starting with a digit:
    the rule of the Healthcare API's BigQuery export, which also makes the name
    safe to use as an SQL identifier on every warehouse.

    >>> validate_table_name("dicom_metadata")
    'dicom_metadata'
    """
    if not isinstance(name, str) or _TABLE_RE.fullmatch(name) is None:
        raise InvalidIdentifierError(
            f"table name {name!r} is not valid: use letters, digits and underscores, "
            "not starting with a digit (e.g. 'dicom_metadata')",
            value=name,
        )
    return name


def validate_object_name(name: object) -> str:
    """Return ``name`` if it is a safe bucket object name, else raise.

    A relative ``/``-separated path: no empty, ``.`` or ``..`` segment, no
    backslash, line break or NUL, at most 1024 bytes (the Cloud Storage limit).

    >>> validate_object_name("cohorts/lung.txt")
    'cohorts/lung.txt'
    """
    problem = None
    if not isinstance(name, str) or not name:
        problem = "is empty or not a string"
    elif any(c in name for c in "\\\r\n\x00"):
        problem = "contains a backslash, line break or NUL"
    elif any(seg in ("", ".", "..") for seg in name.split("/")):
        problem = "has an empty, '.' or '..' path segment (or starts or ends with '/')"
    elif any("\ud800" <= c <= "\udfff" for c in name):
        problem = "holds a lone surrogate (text that is not valid Unicode)"
    elif len(name.encode("utf-8")) > 1024:
        problem = "is over 1024 bytes"
    if problem is not None:
        raise InvalidIdentifierError(
            f"object name {name!r} {problem}; use a relative path such as 'cohorts/lung.txt'",
            value=name,
        )
    assert isinstance(name, str)
    return name


def _check(pattern: re.Pattern[str], value: str, what: str, uri: str, rule: str) -> None:
    if pattern.fullmatch(value) is None:
        raise InvalidResourceError(f"{what} {value!r} in {uri!r} is not valid: {rule}", value=uri)


def _check_project(project: str, uri: str) -> None:
    _check(
        _PROJECT_RE,
        project,
        "project ID",
        uri,
        "6-30 lowercase letters, digits or hyphens, starting with a letter",
    )


def _check_dataset(dataset: str, uri: str) -> None:
    _check(_DATASET_RE, dataset, "dataset ID", uri, "letters, digits and underscores only")


@dataclass(frozen=True)
class BigQueryDataset:
    """A BigQuery dataset, written ``bq://PROJECT.DATASET``.

    >>> BigQueryDataset.parse("bq://my-project.imaging").table("t")
    BigQueryTable(project_id='my-project', dataset_id='imaging', table_id='t')
    """

    project_id: str
    dataset_id: str

    def __post_init__(self) -> None:
        uri = f"bq://{self.project_id}.{self.dataset_id}"
        _check_project(self.project_id, uri)
        _check_dataset(self.dataset_id, uri)

    @classmethod
    def parse(cls, uri: str) -> BigQueryDataset:
        """Parse ``bq://PROJECT.DATASET``."""
        project, rest = _split_bq(uri, parts=2)
        return cls(project, rest[0])

    def table(self, table_id: str) -> BigQueryTable:
        """The table ``table_id`` in this dataset."""
        return BigQueryTable(self.project_id, self.dataset_id, table_id)

    def __str__(self) -> str:
        return f"bq://{self.project_id}.{self.dataset_id}"


@dataclass(frozen=True)
class BigQueryTable:
    """A BigQuery table, written ``bq://PROJECT.DATASET.TABLE`` (the Healthcare API's form).

    >>> BigQueryTable.parse("bq://my-project.imaging.dicom_metadata").sql_name
    'my-project.imaging.dicom_metadata'
    """

    project_id: str
    dataset_id: str
    table_id: str

    def __post_init__(self) -> None:
        uri = f"bq://{self.project_id}.{self.dataset_id}.{self.table_id}"
        _check_project(self.project_id, uri)
        _check_dataset(self.dataset_id, uri)
        _check(_TABLE_RE, self.table_id, "table ID", uri, "letters, digits and underscores only")
        if len(uri) > 2000:
            raise InvalidResourceError(f"table URI {uri!r} is over 2000 characters", value=uri)

    @classmethod
    def parse(cls, uri: str) -> BigQueryTable:
        """Parse ``bq://PROJECT.DATASET.TABLE``."""
        project, rest = _split_bq(uri, parts=3)
        return cls(project, rest[0], rest[1])

    @property
    def dataset(self) -> BigQueryDataset:
        """The dataset holding this table."""
        return BigQueryDataset(self.project_id, self.dataset_id)

    @property
    def sql_name(self) -> str:
        """``PROJECT.DATASET.TABLE`` as the BigQuery client and SQL expect it."""
        return f"{self.project_id}.{self.dataset_id}.{self.table_id}"

    def __str__(self) -> str:
        return f"bq://{self.sql_name}"


def _split_bq(uri: object, *, parts: int) -> tuple[str, list[str]]:
    form = "bq://PROJECT.DATASET" + (".TABLE" if parts == 3 else "")
    if not isinstance(uri, str) or not uri.startswith("bq://"):
        raise InvalidResourceError(f"{uri!r} is not a BigQuery URI; expected {form}", value=uri)
    body = uri[len("bq://") :]
    if "@" in body:  # a user name or password: quote only the redacted URI
        raise InvalidResourceError(
            f"{uri!r} holds a user name or password, which a BigQuery URI never takes; "
            f"expected {form} (credentials come from Application Default Credentials)",
            value=uri,
        )
    # A domain-scoped project ("example.com:proj") contains dots before its colon.
    prefix = ""
    if ":" in body:
        prefix, _, body = body.rpartition(":")
        prefix += ":"
    pieces = body.split(".")
    if len(pieces) != parts or not all(pieces):
        raise InvalidResourceError(
            f"{uri!r} is not a valid BigQuery URI; expected {form}", value=uri
        )
    return prefix + pieces[0], pieces[1:]


_IP_LIKE = re.compile(r"\d{1,3}(\.\d{1,3}){3}", re.ASCII)


def _check_bucket(bucket: str, uri: str) -> None:
    """Cloud Storage's bucket naming rules (cloud.google.com/storage/docs/buckets#naming)."""
    rule = (
        "3-63 lowercase letters, digits, dots, hyphens or underscores, starting and ending "
        "with a letter or digit (up to 222 with dots, 63 between them)"
    )
    if "." in bucket:  # each part 1-63 characters: no "..", no dot at either end
        valid = (
            3 <= len(bucket) <= 222
            and _BUCKET_RE.fullmatch(bucket[0] + "x" + bucket[-1]) is not None
            and all(_BUCKET_PART_RE.fullmatch(part) for part in bucket.split("."))
        )
    else:
        valid = _BUCKET_RE.fullmatch(bucket) is not None
    if not valid:
        raise InvalidResourceError(
            f"bucket name {bucket!r} in {uri!r} is not valid: {rule}", value=uri
        )
    for bad, why in (
        (_IP_LIKE.fullmatch(bucket) is not None, "looks like an IP address"),
        (bucket.startswith("goog"), 'starts with "goog"'),
        ("google" in bucket or "g00gle" in bucket, 'contains "google"'),
    ):
        if bad:
            raise InvalidResourceError(
                f"bucket name {bucket!r} in {uri!r} is not valid: it {why}, which Cloud Storage "
                "does not allow",
                value=uri,
            )


@dataclass(frozen=True)
class GcsUri:
    """A Cloud Storage bucket, folder or object, written ``gs://BUCKET[/OBJECT]``.

    >>> u = GcsUri.parse("gs://my-bucket/cohorts")
    >>> str(u / "lung.txt")
    'gs://my-bucket/cohorts/lung.txt'
    """

    bucket: str
    object_name: str = ""

    def __post_init__(self) -> None:
        uri = str(self)
        _check_bucket(self.bucket, uri)
        if any(c in self.object_name for c in "\r\n\x00"):
            raise InvalidResourceError(
                f"object name in {uri!r} contains a line break or NUL", value=uri
            )
        if any("\ud800" <= c <= "\udfff" for c in self.object_name):
            raise InvalidResourceError(
                f"object name in {uri!r} holds a lone surrogate (text that is not valid Unicode)",
                value=uri,
            )
        if len(self.object_name.encode("utf-8")) > 1024:
            raise InvalidResourceError(f"object name in {uri!r} is over 1024 bytes", value=uri)

    @classmethod
    def parse(cls, uri: object) -> GcsUri:
        """Parse ``gs://BUCKET`` or ``gs://BUCKET/OBJECT``."""
        if not isinstance(uri, str) or not uri.startswith("gs://"):
            raise InvalidResourceError(
                f"{uri!r} is not a Cloud Storage URI; expected gs://BUCKET/PATH", value=uri
            )
        bucket, _, name = uri[len("gs://") :].partition("/")
        if "@" in bucket:  # a user name or password: quote only the redacted URI
            raise InvalidResourceError(
                f"{uri!r} holds a user name or password, which a Cloud Storage URI never "
                "takes; expected gs://BUCKET/PATH (credentials come from Application Default "
                "Credentials)",
                value=uri,
            )
        return cls(bucket, name)

    def __truediv__(self, name: str) -> GcsUri:
        base = self.object_name.rstrip("/")
        return GcsUri(self.bucket, f"{base}/{name}" if base else name)

    def __str__(self) -> str:
        return (
            f"gs://{self.bucket}/{self.object_name}" if self.object_name else f"gs://{self.bucket}"
        )


@dataclass(frozen=True)
class HealthcareDicomStore:
    """A Cloud Healthcare API DICOM store.

    Written ``projects/P/locations/L/datasets/D/dicomStores/S``; :meth:`parse`
    also accepts the full ``https://healthcare.googleapis.com/v1/…/dicomWeb`` URL.

    >>> s = HealthcareDicomStore.parse(
    ...     "https://healthcare.googleapis.com/v1/projects/p/locations/us/datasets/d/dicomStores/s/dicomWeb")
    >>> s.dicomweb_url()
    'https://healthcare.googleapis.com/v1/projects/p/locations/us/datasets/d/dicomStores/s/dicomWeb'
    """

    project: str
    location: str
    dataset: str
    store: str

    def __post_init__(self) -> None:
        if _HC_RE.fullmatch(str(self)) is None:
            raise InvalidResourceError(
                f"{str(self)!r} is not a valid DICOM store name; expected "
                "projects/PROJECT/locations/LOCATION/datasets/DATASET/dicomStores/STORE",
                value=str(self),
            )

    @classmethod
    def parse(cls, name: object) -> HealthcareDicomStore:
        """Parse a store name or its v1/v1beta1 ``…/dicomWeb`` URL."""
        if not isinstance(name, str):
            raise InvalidResourceError(f"{name!r} is not a DICOM store name", value=name)
        text, is_url = re.subn(r"^https://healthcare\.googleapis\.com/v1(beta1)?/", "", name)
        if is_url:  # only a URL ends in /dicomWeb; a plain name's store may be called that
            text = re.sub(r"/dicomWeb/?$", "", text)
        match = _HC_RE.fullmatch(text)
        if match is None:
            raise InvalidResourceError(
                f"{name!r} is not a valid DICOM store name; expected "
                "projects/PROJECT/locations/LOCATION/datasets/DATASET/dicomStores/STORE",
                value=name,
            )
        return cls(**match.groupdict())

    def dicomweb_url(self, version: str = "v1") -> str:
        """The DICOMweb base URL of this store."""
        return f"https://healthcare.googleapis.com/{version}/{self}/dicomWeb"

    def __str__(self) -> str:
        return (
            f"projects/{self.project}/locations/{self.location}"
            f"/datasets/{self.dataset}/dicomStores/{self.store}"
        )
