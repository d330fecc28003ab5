"""Filter-file lines from UID columns: validated and collapsed, vectorised.

Pure: no I/O. :func:`collapse_uids` turns study, series and instance UID
columns into the lines of a :class:`~dicomlab.core.filterfile.FilterFile`:
each line once, in first-seen order, a line covered by a broader one dropped.
Columns of strings take the Arrow path (RE2 matching and string kernels in
C++); anything else the pandas path, which also describes bad rows.

>>> import pandas as pd
>>> study = pd.Series(["1.2", "1.2", "1.3"])
>>> series = pd.Series([None, "1.2.5", "1.3.1"])
>>> collapse_uids([study, series], labels=study.index, permissive=False)
['/studies/1.2', '/studies/1.3/series/1.3.1']
"""

from __future__ import annotations

from typing import Any

from dicomlab.core.uids import MAX_UID_LENGTH, PERMISSIVE_UID_PATTERN, UID_PATTERN, uid_problem
from dicomlab.errors import FilterFileError

__all__ = [
    "UID_COLUMNS",
    "as_arrow_strings",
    "collapse_arrow",
    "collapse_pandas",
    "collapse_uids",
    "problems_error",
]

UID_COLUMNS: tuple[str, ...] = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_SEGMENTS = ("/studies/", "/series/", "/instances/")
_MAX_PROBLEMS_SHOWN = 5


def collapse_uids(
    columns: list[Any],
    *,
    labels: Any,
    permissive: bool,
    label_word: str = "row",
) -> list[str]:
    """Validate UID columns (pandas Series) and return collapsed lines, vectorised.

    Columns of strings take the Arrow path (RE2 matching and string kernels
    in C++); anything else (numbers, mixed objects) the pandas path, which
    finds the same problems.
    """
    strings = as_arrow_strings(columns)
    if strings is not None:
        lines = collapse_arrow(strings, permissive=permissive)
        if lines is not None:
            return lines
    return collapse_pandas(columns, labels=labels, permissive=permissive, label_word=label_word)


def as_arrow_strings(columns: list[Any]) -> list[Any] | None:
    """The columns as Arrow string arrays, or ``None`` when one holds something else."""
    import pyarrow as pa

    arrays = []
    for column in columns:
        try:
            # Arrow-backed string columns (pandas' default "str") convert without a copy.
            array = pa.array(column, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            return None  # the pandas path says what is wrong with the values
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        kind = array.type
        if not pa.types.is_string(kind):
            if not (pa.types.is_null(kind) or pa.types.is_large_string(kind)):
                return None
            array = array.cast(pa.string())
        arrays.append(array)
    return arrays


def collapse_arrow(arrays: list[Any], *, permissive: bool) -> list[str] | None:
    """Lines from valid Arrow UID columns, or ``None`` when any row is bad (then the
    pandas path describes the problems)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pattern = "^" + (PERMISSIVE_UID_PATTERN if permissive else UID_PATTERN).pattern + "$"
    previous_present = None
    levels: list[Any] = []
    for position, array in enumerate(arrays):
        present = pc.is_valid(array)
        ok = pc.and_(
            pc.match_substring_regex(array, pattern),
            pc.less_equal(pc.utf8_length(array), MAX_UID_LENGTH),
        )
        if pc.any(pc.and_(present, pc.invert(pc.fill_null(ok, False)))).as_py():
            return None
        if position == 0 and pc.any(pc.invert(present)).as_py():
            return None
        if (
            previous_present is not None
            and pc.any(pc.and_(present, pc.invert(previous_present))).as_py()
        ):
            return None
        previous_present = present
        base = levels[-1] if levels else pa.scalar("")
        levels.append(pc.binary_join_element_wise(base, _SEGMENTS[position], array, ""))
    line = pc.coalesce(*reversed(levels))
    depth = pc.cast(pc.is_valid(levels[0]), pa.int8())
    for level in levels[1:]:
        depth = pc.add(depth, pc.cast(pc.is_valid(level), pa.int8()))
    keep = pa.array(_first_occurrences(line))
    # Drop lines covered by a broader line: a study line covers its series and instances,
    # a series line covers its instances.
    for broader in range(1, len(levels)):
        is_broader = pc.equal(depth, broader)
        if not pc.any(is_broader).as_py():
            continue
        covering = pc.unique(pc.filter(line, is_broader))
        covered = pc.and_(pc.greater(depth, broader), pc.is_in(levels[broader - 1], covering))
        keep = pc.and_(keep, pc.invert(pc.fill_null(covered, False)))
    kept: list[str] = pc.filter(line, keep).to_pylist()
    return kept


def _first_occurrences(line: Any) -> Any:
    """A boolean mask: the first occurrence of each distinct value."""
    import pandas as pd

    # Hashing Python strings beats Arrow's unique() on long, mostly distinct UIDs here.
    values = pd.Series(line.to_numpy(zero_copy_only=False), dtype=object)
    return ~values.duplicated().to_numpy()


def collapse_pandas(
    columns: list[Any],
    *,
    labels: Any,
    permissive: bool,
    label_word: str = "row",
) -> list[str]:
    """The pandas path of :func:`collapse_uids` (also used to describe bad rows)."""
    import numpy as np
    import pandas as pd

    n = len(labels)
    bad, present = _bad_rows(columns, n, permissive)
    if bad.any():
        problems = _describe_problems(columns, labels, bad, permissive)
        raise problems_error("invalid UIDs", problems, label_word)

    depth = np.ones(n, dtype=np.int8)
    for position in range(1, len(columns)):
        depth = depth + present[position]
    values = [c.to_numpy(dtype=object, na_value=None) for c in columns]
    study = pd.Series(values[0], dtype=object)
    lines = "/studies/" + study
    keys = [study]
    for position in range(1, len(columns)):
        part = pd.Series(values[position], dtype=object)
        joined = lines + _SEGMENTS[position] + part.fillna("")
        lines = joined.where(pd.Series(present[position]), lines)
        keys.append(lines)
    frame = pd.DataFrame({"line": lines, "depth": depth})
    frame = frame.drop_duplicates("line")
    keep = np.ones(len(frame), dtype=bool)
    # Drop lines covered by a broader line: a study line covers its series and instances,
    # a series line covers its instances.
    for broader in range(1, len(columns)):
        covering = frame.loc[frame["depth"] == broader, "line"]
        if covering.empty:
            continue
        finer = (frame["depth"] > broader).to_numpy()
        if not finer.any():
            continue
        prefix = _prefix(frame["line"], broader)
        keep = keep & ~(finer & prefix.isin(covering).to_numpy())
    kept: list[str] = list(frame["line"][keep])
    return kept


def _bad_rows(columns: list[Any], n: int, permissive: bool) -> tuple[Any, list[Any]]:
    """Which rows hold a bad UID, and where each column has a value (boolean arrays)."""
    import numpy as np
    import pandas as pd

    pattern = PERMISSIVE_UID_PATTERN if permissive else UID_PATTERN
    present = []
    bad = np.zeros(n, dtype=bool)
    for position, col in enumerate(columns):
        values = col.to_numpy(dtype=object, na_value=None)
        series = pd.Series(values, dtype=object)
        is_present = series.notna().to_numpy()
        ok = _matches(series, pattern.pattern)
        bad = bad | (is_present & ~ok)
        if position == 0:
            bad = bad | ~is_present
        present.append(is_present)
    # A finer UID without the broader one (series without study) is not a path.
    for position in range(1, len(columns)):
        bad = bad | (present[position] & ~present[position - 1])
    return bad, present


def _matches(series: Any, pattern: str) -> Any:
    """Boolean array: the value is a string that matches ``pattern`` and is short enough."""
    import numpy as np

    try:
        text = series.str
    except AttributeError:  # no string at all in the column (e.g. integers)
        return np.zeros(len(series), dtype=bool)
    ok = text.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    return ok & (text.len() <= MAX_UID_LENGTH).fillna(False).to_numpy(dtype=bool)


def _prefix(lines: Any, depth: int) -> Any:
    """The first ``depth`` levels of each line (``/studies/A/series/B`` for depth 2)."""
    parts = lines.str.split("/", n=2 * depth + 1, regex=False)
    return parts.str[: 2 * depth + 1].str.join("/")


def _describe_problems(
    columns: list[Any], labels: Any, bad: Any, permissive: bool
) -> list[tuple[object, str]]:
    problems: list[tuple[object, str]] = []
    for row in bad.nonzero()[0][: _MAX_PROBLEMS_SHOWN * 4]:
        label = labels[row]
        previous_missing = False
        for position, col in enumerate(columns):
            value = col.iloc[row]
            missing = value is None or (isinstance(value, float) and value != value)
            name = UID_COLUMNS[position]
            if missing:
                if position == 0:
                    problems.append((label, f"{name} is missing"))
                previous_missing = True
                continue
            if previous_missing:
                problems.append(
                    (label, f"{name} {value!r} is given without {UID_COLUMNS[position - 1]}")
                )
                break
            reason = uid_problem(value, permissive=permissive)
            if reason is not None:
                problems.append((label, f"{name} {value!r} {reason}"))
    return problems


def problems_error(what: str, problems: list[tuple[object, str]], word: str) -> FilterFileError:
    shown = "; ".join(
        f"{word} {label}: {reason}" for label, reason in problems[:_MAX_PROBLEMS_SHOWN]
    )
    more = len(problems) - _MAX_PROBLEMS_SHOWN
    suffix = f"; and {more} more" if more > 0 else ""
    return FilterFileError(f"{what}: {shown}{suffix}", problems=problems)
