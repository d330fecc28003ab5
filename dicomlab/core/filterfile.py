"""Filter files: the list of studies, series and instances a Healthcare API
export or copy is limited to.

One path per line, ``\\n``-terminated::

    /studies/{StudyInstanceUID}
    /studies/{StudyInstanceUID}/series/{SeriesInstanceUID}
    /studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances/{SOPInstanceUID}

A :class:`FilterFile` is immutable and always *collapsed*: every UID is valid,
each line appears once, a line already covered by a broader line (an instance
of a listed series, a series of a listed study) is dropped, and lines keep the
order in which they first appeared.

>>> import pandas as pd
>>> df = pd.DataFrame({"StudyInstanceUID": ["1.2", "1.2", "1.3"],
...                    "SeriesInstanceUID": ["1.2.1", "1.2.1", "1.3.1"]})
>>> ff = FilterFile.from_dataframe(df, level="series")
>>> print(ff.to_text(), end="")
/studies/1.2/series/1.2.1
/studies/1.3/series/1.3.1
>>> FilterFile.parse(ff.to_text()) == ff
True
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from dicomlab.core.uids import MAX_UID_LENGTH, PERMISSIVE_UID_PATTERN, UID_PATTERN, uid_problem
from dicomlab.errors import FilterFileError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LEVELS", "UID_COLUMNS", "FilterFile", "Level"]

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")
UID_COLUMNS: tuple[str, ...] = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
_SEGMENTS = ("/studies/", "/series/", "/instances/")
_LINE_RE = re.compile(r"/studies/([^/]+)(?:/series/([^/]+)(?:/instances/([^/]+))?)?")
_MAX_PROBLEMS_SHOWN = 5


class FilterFile:
    """An immutable, validated, collapsed filter file.

    Build one with :meth:`from_dataframe`, :meth:`from_uids` or :meth:`parse`;
    write it with :meth:`to_text` or ``lab.upload(ff, name)``.

    Examples
    --------
    >>> ff = FilterFile.from_uids([("1.2", None, None), ("1.2", "1.2.3", None)])
    >>> ff.lines
    ('/studies/1.2',)
    >>> ff.level
    'study'
    """

    __slots__ = ("_lines",)

    def __init__(self, lines: Iterable[str] = ()) -> None:
        if isinstance(lines, (str, bytes)):
            # A str is iterable too, and would be read as one line per character.
            raise FilterFileError(
                f"FilterFile() takes a list of lines, not one {type(lines).__name__} "
                f"{lines[:80]!r}; use FilterFile.parse(text) for filter-file text",
                problems=[(1, "a single string, not a list of lines")],
            )
        try:
            items = list(lines)
        except TypeError:
            raise FilterFileError(
                f"FilterFile() takes a list of lines, not {lines!r}", problems=[]
            ) from None
        bad = [(n, item) for n, item in enumerate(items, start=1) if not isinstance(item, str)]
        if bad:
            raise _problems_error(
                "filter-file lines must be str",
                [(n, f"{item!r} is of type {type(item).__name__}, not str") for n, item in bad],
                "line",
            )
        parsed = FilterFile.parse("\n".join(items)) if items else None
        self._lines: tuple[str, ...] = parsed._lines if parsed is not None else ()

    @classmethod
    def _trusted(cls, lines: Sequence[str]) -> FilterFile:
        ff = cls.__new__(cls)
        ff._lines = tuple(lines)
        return ff

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_dataframe(
        cls,
        df: pd.DataFrame,
        level: Level | None = None,
        *,
        permissive: bool = False,
    ) -> FilterFile:
        """Build a filter file from a DataFrame of UIDs.

        Parameters
        ----------
        df
            A DataFrame with a ``StudyInstanceUID`` column and, for finer levels,
            ``SeriesInstanceUID`` and ``SOPInstanceUID`` columns (the names the
            canned queries and the metadata table use).
        level
            ``"study"``, ``"series"`` or ``"instance"``. ``None`` picks the finest
            level the columns allow. A row whose finer UIDs are missing (null)
            gives a broader line, which then covers the finer lines of the same
            study or series.
        permissive
            Accept UID components with leading zeros, as seen in real-world data.

        Raises
        ------
        FilterFileError
            A column is missing, or rows hold invalid UIDs; ``problems`` lists
            each offending row label and what is wrong.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"StudyInstanceUID": ["1.2"], "SeriesInstanceUID": ["1.2.3"],
        ...                    "SOPInstanceUID": ["1.2.3.4"]})
        >>> FilterFile.from_dataframe(df).lines
        ('/studies/1.2/series/1.2.3/instances/1.2.3.4',)
        >>> FilterFile.from_dataframe(df, level="study").lines
        ('/studies/1.2',)
        """
        depth = _depth_for(df, level)
        columns = [df[name] for name in UID_COLUMNS[:depth]]
        return cls._trusted(_collapse(columns, labels=df.index, permissive=permissive))

    @classmethod
    def from_uids(
        cls,
        rows: Iterable[Sequence[str | None]],
        *,
        permissive: bool = False,
    ) -> FilterFile:
        """Build a filter file from ``(study, series, instance)`` tuples.

        Trailing ``None`` entries (or shorter tuples) make broader lines.

        >>> FilterFile.from_uids([("1.2", "1.2.3")]).lines
        ('/studies/1.2/series/1.2.3',)
        """
        import pandas as pd

        padded = [[*r, None, None, None][:3] for r in rows]
        frame = pd.DataFrame(padded, columns=list(UID_COLUMNS), dtype=object)
        return cls._trusted(
            _collapse([frame[c] for c in UID_COLUMNS], labels=frame.index, permissive=permissive)
        )

    @classmethod
    def parse(cls, text: str, *, permissive: bool = False) -> FilterFile:
        r"""Parse filter-file text (``\n`` or ``\r\n`` line ends; blank lines ignored).

        Raises
        ------
        FilterFileError
            Lines that are not ``/studies/UID[/series/UID[/instances/UID]]`` or
            hold invalid UIDs; ``problems`` gives the 1-based line numbers.

        Examples
        --------
        >>> FilterFile.parse("/studies/1.2\r\n\r\n/studies/1.2/series/1.2.3\n").lines
        ('/studies/1.2',)
        >>> FilterFile.parse("/study/1.2")
        Traceback (most recent call last):
        ...
        dicomlab.errors.FilterFileError: ...
        """
        if not isinstance(text, str):
            raise FilterFileError(f"filter-file text must be a str, not {type(text).__name__}")
        import pandas as pd

        parts: list[tuple[str | None, ...]] = []
        numbers: list[int] = []
        problems: list[tuple[object, str]] = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw[:-1] if raw.endswith("\r") else raw
            if not line.strip():
                continue
            match = _LINE_RE.fullmatch(line)
            if match is None:
                problems.append(
                    (number, f"{line!r} is not /studies/UID[/series/UID[/instances/UID]]")
                )
                continue
            parts.append(match.groups())
            numbers.append(number)
        if problems:
            raise _problems_error("filter-file lines are malformed", problems, "line")
        frame = pd.DataFrame(parts or None, columns=list(UID_COLUMNS), index=numbers, dtype=object)
        return cls._trusted(
            _collapse(
                [frame[c] for c in UID_COLUMNS],
                labels=frame.index,
                permissive=permissive,
                label_word="line",
            )
        )

    # -- reading ---------------------------------------------------------------------------

    @property
    def lines(self) -> tuple[str, ...]:
        """The lines, without line ends."""
        return self._lines

    @property
    def level(self) -> str:
        """``"study"``, ``"series"``, ``"instance"``, ``"mixed"`` or ``"empty"``."""
        depths = {line.count("/") // 2 for line in self._lines}
        if not depths:
            return "empty"
        if len(depths) > 1:
            return "mixed"
        return LEVELS[depths.pop() - 1]

    def to_text(self) -> str:
        r"""The file's text: one line per path, each ending in ``\n``.

        >>> FilterFile.from_uids([("1.2",)]).to_text()
        '/studies/1.2\n'
        """
        return "\n".join(self._lines) + "\n" if self._lines else ""

    def to_bytes(self) -> bytes:
        """The file's text as UTF-8 (ASCII, in fact: UIDs are digits and dots)."""
        return self.to_text().encode("ascii")

    def content_name(self) -> str:
        """A name derived from the content, e.g. ``filter-3f2a9c1b7d4e.txt``.

        The same lines always give the same name.
        """
        return f"filter-{hashlib.sha256(self.to_bytes()).hexdigest()[:12]}.txt"

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilterFile):
            return NotImplemented
        return self._lines == other._lines

    def __hash__(self) -> int:
        return hash(self._lines)

    def __repr__(self) -> str:
        head = ", ".join(repr(line) for line in self._lines[:2])
        more = f", … {len(self) - 2} more" if len(self) > 2 else ""
        return f"FilterFile({len(self)} lines, level={self.level!r}: [{head}{more}])"

    def _repr_html_(self) -> str:
        shown = self._lines[:5]
        # Lines may wrap before a "/" (never inside a UID), so the display fits its cell.
        rows = "".join(
            f"<li><code>/{html.escape(line[1:]).replace('/', '<wbr>/')}</code></li>"
            for line in shown
        )
        more = f"<li>… {len(self) - len(shown)} more</li>" if len(self) > len(shown) else ""
        return (
            f"<div style='max-width:100%;overflow-wrap:anywhere'><b>FilterFile</b>: "
            f"{len(self)} lines, level <i>{self.level}</i>"
            f"<ul style='margin:2px 0'>{rows}{more}</ul></div>"
        )


def _depth_for(df: Any, level: Level | None) -> int:
    names = list(getattr(df, "columns", ()))
    twice = sorted({str(c) for c in names if c in UID_COLUMNS and names.count(c) > 1})
    if twice:
        # df[name] would be a DataFrame, and which copy holds the UIDs is a guess.
        raise FilterFileError(
            f"the DataFrame has more than one column named {', '.join(map(repr, twice))}; "
            "keep one of each (df.loc[:, ~df.columns.duplicated()]) and build again"
        )
    columns = set(names)
    if level is None:
        depth = 0
        while depth < 3 and UID_COLUMNS[depth] in columns:
            depth += 1
        if depth == 0:
            raise FilterFileError(
                f"the DataFrame has no {UID_COLUMNS[0]} column; it has {sorted(map(str, columns))}"
            )
        return depth
    if level not in LEVELS:
        raise FilterFileError(f"level {level!r} is not one of {', '.join(LEVELS)}")
    depth = LEVELS.index(level) + 1
    missing = [c for c in UID_COLUMNS[:depth] if c not in columns]
    if missing:
        raise FilterFileError(
            f"level {level!r} needs the column(s) {', '.join(missing)}; "
            f"the DataFrame has {sorted(map(str, columns))}"
        )
    return depth


def _collapse(
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
    strings = _as_arrow_strings(columns)
    if strings is not None:
        lines = _collapse_arrow(strings, permissive=permissive)
        if lines is not None:
            return lines
    return _collapse_pandas(columns, labels=labels, permissive=permissive, label_word=label_word)


def _as_arrow_strings(columns: list[Any]) -> list[Any] | None:
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


def _collapse_arrow(arrays: list[Any], *, permissive: bool) -> list[str] | None:
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


def _collapse_pandas(
    columns: list[Any],
    *,
    labels: Any,
    permissive: bool,
    label_word: str = "row",
) -> list[str]:
    """The pandas path of :func:`_collapse` (also used to describe bad rows)."""
    import numpy as np
    import pandas as pd

    pattern = PERMISSIVE_UID_PATTERN if permissive else UID_PATTERN
    n = len(labels)
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
    if bad.any():
        problems = _describe_problems(columns, labels, bad, permissive)
        raise _problems_error("invalid UIDs", problems, label_word)

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


def _problems_error(what: str, problems: list[tuple[object, str]], word: str) -> FilterFileError:
    shown = "; ".join(
        f"{word} {label}: {reason}" for label, reason in problems[:_MAX_PROBLEMS_SHOWN]
    )
    more = len(problems) - _MAX_PROBLEMS_SHOWN
    suffix = f"; and {more} more" if more > 0 else ""
    return FilterFileError(f"{what}: {shown}{suffix}", problems=problems)
