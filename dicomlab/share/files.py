"""Share mode's settings and files: the switch, the key, the reverse map, the census.

The key and the map live in ``HOME/share/`` and are written readable by their
owner only (0600); neither is ever printed.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomlab.core.deid import action_for
from dicomlab.errors import AlreadyExistsError, DicomlabError, InvalidRequestError
from dicomlab.plumbing.atomic import write_file

if TYPE_CHECKING:
    import pandas as pd

    from dicomlab.warehouses.base import Warehouse

__all__ = ["SHARE_ENV", "parse_share", "read_census", "read_key", "read_map", "write_private"]

SHARE_ENV = "DICOMLAB_SHARE"
# The table's columns vary by store (read_census reads its header first).
_HEADER_SQL = "SELECT * FROM dicom_metadata LIMIT 0"
_CENSUS_EXTRA = ("Modality", "BurnedInAnnotation")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_share(value: Any, *, from_env: bool = False) -> bool | str:
    """``False``, ``True`` or ``"images"`` from a ``share=`` argument, or from ``$DICOMLAB_SHARE``.

    An argument is ``True``, ``False``, ``"images"`` or ``None`` (off); the
    environment variable (``from_env=True``) may also say ``1``/``0``,
    ``yes``/``no``, ``on``/``off``. Anything else is refused, naming the value.

    >>> parse_share(True), parse_share("images"), parse_share(None)
    (True, 'images', False)
    >>> parse_share("1", from_env=True), parse_share("off", from_env=True)
    (True, False)
    """
    if value is None or value is False:
        return False
    if value is True:
        return True
    if value == "images":
        return "images"
    text = str(value).strip().lower() if from_env else None
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    if text == "images":
        return "images"
    where = SHARE_ENV if from_env else "share"
    raise InvalidRequestError(
        f"{where}={value!r} is not a share mode: use share=True (identifiers hidden, risky "
        f"images withheld), share='images' (images shown too) or share=False; {SHARE_ENV} "
        "takes 1, images or 0",
        value=value,
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (0600 from the start).

    Through a temporary file of this call's own (two kernels sharing a data
    folder never write into one another's), replacing ``path`` whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_file(path, lambda handle: handle.write(data), replace=True, durable=True)


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


def read_key(path: Path) -> bytes:
    """The data folder's key, made on first use; two processes starting at once share one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(32)
        with contextlib.suppress(AlreadyExistsError):  # another process made it first: theirs
            write_file(path, lambda handle: handle.write(key), durable=True)
    key = path.read_bytes()
    if len(key) < 16:
        raise DicomlabError(
            f"the share-mode key {str(path)!r} is damaged ({len(key)} bytes): restore it from a "
            "backup; deleting it makes a new key, and every pseudonym changes"
        )
    return key


def read_map(folder: Path) -> dict[str, str]:
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
