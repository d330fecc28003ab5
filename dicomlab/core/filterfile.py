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

from dicomlab.core.filterlines import UID_COLUMNS, collapse_uids, problems_error
from dicomlab.errors import FilterFileError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LEVELS", "UID_COLUMNS", "FilterFile", "Level"]

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")
_LINE_RE = re.compile(r"/studies/([^/]+)(?:/series/([^/]+)(?:/instances/([^/]+))?)?")


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
            raise problems_error(
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
        return cls._trusted(collapse_uids(columns, labels=df.index, permissive=permissive))

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
            collapse_uids(
                [frame[c] for c in UID_COLUMNS], labels=frame.index, permissive=permissive
            )
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
            raise problems_error("filter-file lines are malformed", problems, "line")
        frame = pd.DataFrame(parts or None, columns=list(UID_COLUMNS), index=numbers, dtype=object)
        return cls._trusted(
            collapse_uids(
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
