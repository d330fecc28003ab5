"""Review decisions, pure: what an item is, what a decision may say, and the latest per item.

A *review* looks at the distinct series (or instances) of a query's hits and
marks each ``include`` or ``exclude``, with a reason. Decisions are kept as an
append-only history (one row per decision, :data:`COLUMNS`); the state of a
review is the latest row per item, and the reviewed cohort is the hits without
the rows of excluded items. Nothing here touches a warehouse or a widget.

>>> import pandas as pd
>>> hits = pd.DataFrame({"StudyInstanceUID": ["1.2", "1.2"],
...                      "SeriesInstanceUID": ["1.2.3", "1.2.4"]})
>>> items = review_items(hits, "series")
>>> rows = [new_decision("qc", "series", items.iloc[1], "exclude", "motion", "ana")]
>>> latest_decisions(pd.DataFrame(rows))["decision"].tolist()
['exclude']
>>> len(included_rows(hits, latest_decisions(pd.DataFrame(rows)), "series"))
1
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from dicomlab.core.filterfile import UID_COLUMNS
from dicomlab.core.validation import validate_choice, validate_frame
from dicomlab.errors import FilterFileError, InvalidIdentifierError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "DECISIONS",
    "DEFAULT_REASONS",
    "DEFAULT_TABLE",
    "LEVELS",
    "REVIEW_ATTRS",
    "decision_counts",
    "included_rows",
    "item_keys",
    "latest_decisions",
    "new_decision",
    "review_items",
    "select_items",
    "summary_table",
    "validate_decision",
    "validate_level",
    "validate_reason",
    "validate_review_name",
    "validate_reviewer",
]

DEFAULT_TABLE = "review_decisions"
# Where Review.included() notes the review behind a DataFrame (read by cohort provenance).
REVIEW_ATTRS = "dicomlab.review"
DECISIONS = ("include", "exclude")
LEVELS = ("series", "instance")
DEFAULT_REASONS = (
    "wrong body part",
    "motion",
    "scout view",
    "burned-in text",
    "contrast phase",
)
# The history table, in column order: who decided what about which item, and when.
COLUMNS = (
    "review",
    "level",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",  # "" at series level, so that an item's key never holds a NULL
    "decision",
    "reason",
    "reviewer",
    "decided_at",
    "decision_id",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MAX_TEXT = 200


def validate_review_name(name: object) -> str:
    """Return ``name`` if it can name a review: letters, digits, ``.``, ``_``, ``-``; ≤ 64.

    >>> validate_review_name("lung-qc")
    'lung-qc'
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidIdentifierError(
            f"review name {name!r} is not valid: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'lung-qc')",
            value=name,
        )
    return name


def validate_level(level: object) -> str:
    """Return ``level`` if it is ``"series"`` or ``"instance"``."""
    return validate_choice(level, LEVELS, "review level")


def validate_decision(decision: object) -> str:
    """Return ``decision`` if it is ``"include"`` or ``"exclude"``."""
    return validate_choice(decision, DECISIONS, "decision")


def _text(value: object, what: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_TEXT:
        raise InvalidIdentifierError(
            f"{what} {value!r} is not valid: give a non-empty text of at most {_MAX_TEXT} "
            f"characters (e.g. {example!r})",
            value=value,
        )
    if any(ch in value for ch in "\r\n\t\x00"):
        raise InvalidIdentifierError(f"{what} {value!r} holds a control character", value=value)
    return value.strip()


def validate_reason(reason: object) -> str:
    """Return a reason (stripped): a short one-line text, ``""`` for none.

    >>> validate_reason(" motion ")
    'motion'
    """
    if reason is None or reason == "":
        return ""
    return _text(reason, "reason", "motion")


def validate_reviewer(reviewer: object) -> str:
    """Return a reviewer's name: a short one-line text."""
    return _text(reviewer, "reviewer", "ana")


def review_items(hits: pd.DataFrame, level: str) -> pd.DataFrame:
    """The distinct items of ``hits`` at ``level``, in the order they first appear.

    Columns are the three UIDs (``SOPInstanceUID`` is ``""`` at series level).
    Rows without the UIDs the level needs are refused, naming them.
    """
    import pandas as pd

    level = validate_level(level)
    validate_frame(hits, "hits")
    depth = 2 if level == "series" else 3
    missing = [c for c in UID_COLUMNS[:depth] if c not in hits.columns]
    if missing:
        # Series are the coarsest items: without their UIDs no level is left to fall back to.
        instead = (
            ", or review at series level"
            if missing == ["SOPInstanceUID"]
            else " (a review decides on series or instances, not on studies)"
        )
        raise FilterFileError(
            f"a review at level {level!r} needs the columns {', '.join(UID_COLUMNS[:depth])}; "
            f"the DataFrame lacks {', '.join(missing)}: query them too{instead}"
        )
    keys = hits[list(UID_COLUMNS[:depth])]
    empty = keys.isna().any(axis=1) | (keys.astype(str) == "").any(axis=1)
    if empty.any():
        bad = [(label, "a UID is missing") for label in hits.index[empty][:10]]
        raise FilterFileError(
            f"rows {[label for label, _ in bad]} have no {' or '.join(UID_COLUMNS[:depth])}: "
            "drop them before reviewing",
            problems=bad,
        )
    items = keys.astype(str).drop_duplicates().reset_index(drop=True)
    if depth == 2:
        items = items.assign(SOPInstanceUID="")
    result: pd.DataFrame = pd.DataFrame(items, columns=list(UID_COLUMNS))
    return result


def item_keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    """The ``(study, series, instance)`` key of each row of an items or decisions frame."""
    columns = [frame[c].fillna("").astype(str) for c in UID_COLUMNS]
    return list(zip(*columns, strict=True))


def select_items(items: pd.DataFrame, which: object) -> list[int]:
    """Positions in ``items`` that ``which`` names; raise naming anything that is not there.

    ``which`` is a position (``int``), a list of positions, a UID tuple
    ``(study, series[, instance])``, a list of those, or a DataFrame of rows
    with UID columns (every distinct item it names).

    >>> import pandas as pd
    >>> items = pd.DataFrame({"StudyInstanceUID": ["1"], "SeriesInstanceUID": ["1.1"],
    ...                       "SOPInstanceUID": [""]})
    >>> select_items(items, 0), select_items(items, ("1", "1.1"))
    ([0], [0])
    """
    import pandas as pd

    keys = item_keys(items)
    if isinstance(which, pd.DataFrame):
        level = "instance" if keys and keys[0][2] else "series"
        which = [tuple(k) for k in item_keys(review_items(which, level))]
    elif isinstance(which, (int, tuple)) and not isinstance(which, bool):
        which = [which]
    if not isinstance(which, Sequence) or isinstance(which, str) or not which:
        raise InvalidIdentifierError(
            f"cannot tell which items {which!r} names: give a tile position, a list of them, "
            "a (StudyInstanceUID, SeriesInstanceUID[, SOPInstanceUID]) tuple, or hit rows",
            value=which,
        )
    position = {key: i for i, key in enumerate(keys)}
    return [_position(one, position, len(keys)) for one in which]


def _position(one: object, position: Mapping[tuple[str, str, str], int], count: int) -> int:
    if isinstance(one, int) and not isinstance(one, bool):
        if not 0 <= one < count:
            raise InvalidIdentifierError(
                f"item {one} is out of range: this review has {count} items (0 to {count - 1})",
                value=one,
            )
        return one
    if isinstance(one, tuple) and 2 <= len(one) <= 3 and all(isinstance(u, str) for u in one):
        key = (one[0], one[1], one[2] if len(one) == 3 else "")
        if key in position:
            return position[key]
    raise InvalidIdentifierError(
        f"{one!r} is not an item of this review: give a tile position or the UIDs of a "
        "row of the hits it was opened on",
        value=one,
    )


def new_decision(
    review: str,
    level: str,
    item: Mapping[str, Any] | pd.Series,
    decision: str,
    reason: str,
    reviewer: str,
    *,
    when: datetime | None = None,
) -> dict[str, Any]:
    """One history row (validated), stamped with the time and a unique id."""
    return {
        "review": validate_review_name(review),
        "level": validate_level(level),
        "StudyInstanceUID": str(item["StudyInstanceUID"]),
        "SeriesInstanceUID": str(item["SeriesInstanceUID"]),
        "SOPInstanceUID": str(item["SOPInstanceUID"]) if level == "instance" else "",
        "decision": validate_decision(decision),
        "reason": validate_reason(reason),
        "reviewer": validate_reviewer(reviewer),
        "decided_at": when or datetime.now(timezone.utc),
        "decision_id": uuid.uuid4().hex,
    }


def latest_decisions(history: pd.DataFrame) -> pd.DataFrame:
    """The latest row per item of a review's history (ties broken by ``decision_id``).

    >>> import pandas as pd
    >>> t = pd.Timestamp("2026-01-01", tz="UTC")
    >>> rows = [dict(StudyInstanceUID="1", SeriesInstanceUID="1.1", SOPInstanceUID="",
    ...              decision=d, decided_at=t + pd.Timedelta(seconds=s), decision_id=str(s))
    ...         for d, s in [("exclude", 1), ("include", 2)]]
    >>> latest_decisions(pd.DataFrame(rows))["decision"].tolist()
    ['include']
    """
    import pandas as pd

    if history.empty:
        empty: pd.DataFrame = pd.DataFrame(columns=list(COLUMNS))
        return empty
    # One set of dtypes whatever the rows came from (a warehouse, or rows just made):
    # text as object columns, as the warehouses give it; times in UTC to the microsecond.
    frame = history.astype({c: object for c in history.columns if c != "decided_at"})
    frame["SOPInstanceUID"] = frame["SOPInstanceUID"].fillna("")
    frame["decided_at"] = pd.to_datetime(frame["decided_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    ordered = frame.sort_values(["decided_at", "decision_id"], kind="stable")
    latest = ordered.drop_duplicates(list(UID_COLUMNS), keep="last")
    result: pd.DataFrame = latest.sort_values(list(UID_COLUMNS), kind="stable")
    result = result.reset_index(drop=True)
    return result


def _excluded_keys(latest: pd.DataFrame) -> set[tuple[str, str, str]]:
    if latest.empty:
        return set()
    return set(item_keys(latest[latest["decision"] == "exclude"]))


def included_rows(hits: pd.DataFrame, latest: pd.DataFrame, level: str) -> pd.DataFrame:
    """``hits`` without the rows of excluded items (undecided and included rows stay)."""
    level = validate_level(level)
    excluded = _excluded_keys(latest)
    kept: pd.DataFrame
    if not excluded:
        kept = hits.copy()
        return kept
    depth = 2 if level == "series" else 3
    keys = hits[list(UID_COLUMNS[:depth])].astype(str)
    row_keys = [(*k, "") if depth == 2 else k for k in keys.itertuples(index=False, name=None)]
    keep = [key not in excluded for key in row_keys]
    kept = hits[keep].copy()
    return kept


def decision_counts(items: pd.DataFrame, latest: pd.DataFrame) -> dict[str, int]:
    """How many of the review's items are included, excluded and undecided."""
    decided = dict(zip(item_keys(latest), latest["decision"], strict=True)) if len(latest) else {}
    states = [decided.get(key, "undecided") for key in item_keys(items)]
    return {
        "included": states.count("include"),
        "excluded": states.count("exclude"),
        "undecided": states.count("undecided"),
    }


def summary_table(items: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """Items by decision and reason (``undecided`` included), largest groups first."""
    import pandas as pd

    decided = {}
    if len(latest):
        decided = {
            key: (d, r)
            for key, d, r in zip(
                item_keys(latest), latest["decision"], latest["reason"].fillna(""), strict=True
            )
        }
    pairs: Iterable[tuple[str, str]] = (
        decided.get(key, ("undecided", "")) for key in item_keys(items)
    )
    frame = pd.DataFrame(list(pairs), columns=["decision", "reason"])
    counts = frame.value_counts(["decision", "reason"], sort=False).rename("items")
    table = counts.reset_index().sort_values(
        ["items", "decision", "reason"], ascending=[False, True, True], kind="stable"
    )
    result: pd.DataFrame = table.reset_index(drop=True)
    return result
