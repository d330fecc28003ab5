"""BigQuery's text form of TIME and TIMESTAMP values, rewritten for DuckDB.

Pure: no I/O. On DuckDB, ``CONCAT`` and ``CAST(x AS STRING)`` print TIME and
TIMESTAMP (BigQuery's DATETIME) values as BigQuery does, with 0, 3 or 6
fractional digits (``07:59:11``, ``07:59:11.500``, ``07:59:11.123456``), not
DuckDB's trimmed ``07:59:11.5``. TIMESTAMP WITH TIME ZONE values keep DuckDB's form.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT CAST(t AS STRING) FROM x", read="bigquery")
>>> bigquery_strings_for_duckdb(tree, {"t": "VARCHAR"})
>>> tree.sql("duckdb")
'SELECT CAST(t AS TEXT) FROM x'
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

__all__ = ["bigquery_strings_for_duckdb"]


def bigquery_strings_for_duckdb(tree: exp.Expr, types: Mapping[str, str]) -> None:
    """Make DuckDB turn TIME and TIMESTAMP values into text the way BigQuery does.

    BigQuery's ``CONCAT`` and ``CAST(x AS STRING)`` print 0, 3 or 6 fractional
    digits (``07:59:11.500``); DuckDB trims trailing zeros (``07:59:11.5``), so
    ``latest_studies``' StudyDateTime would differ between engines. Column types
    are unknown here, so the rewrite tests ``typeof(x)`` at run time (DuckDB folds
    it) and calls string functions only on ``CAST(x AS VARCHAR)``, which binds for
    every type. Nodes are visited deepest first, so that the copies made for an
    outer node hold the rewritten inner ones.
    """
    for node in reversed(list(tree.bfs())):
        if isinstance(node, exp.Concat) and (joined := _date_and_time(node, types)) is not None:
            node.replace(joined)
        elif isinstance(node, exp.Concat):
            for arg in list(node.expressions):
                if not isinstance(arg, (exp.Literal, exp.Concat)) and "bq_text" not in arg.meta:
                    arg.replace(_bigquery_text(arg.copy(), types))
        elif (
            isinstance(node, exp.Cast)
            and node.to.is_type(*exp.DataType.TEXT_TYPES)
            and not node.args.get("format")
            and "bq_text" not in node.meta  # made for DuckDB's sake, not BigQuery text
        ):
            node.replace(_bigquery_text(node.this.copy(), types))


# DuckDB types whose text is the same as BigQuery's (no fractional seconds to pad).
_PLAIN_TEXT_TYPES = ("VARCHAR", "DATE", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN")


def _typed_text(value: exp.Expr, kind: str) -> exp.Expr | None:
    """A cheaper text form when the column's DuckDB type is known (``None``: not here)."""
    if kind in _PLAIN_TEXT_TYPES:
        return exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    if kind != "TIME":
        return None
    midnight = exp.cast(exp.Literal.string("1970-01-01"), "DATE")
    return _strftime_time(exp.Add(this=midnight, expression=value.copy()), value, "")


def _strftime_time(stamp: exp.Expr, time: exp.Expr, prefix: str) -> exp.Expr:
    """``stamp`` (a TIMESTAMP) as ``prefix`` + the time of day with 0, 3 or 6 fraction digits,
    as BigQuery prints ``time``."""
    micro = exp.Mod(
        this=exp.Anonymous(this="microsecond", expressions=[time.copy()]),
        expression=exp.Literal.number(1_000_000),
    )

    def formatted(pattern: str) -> exp.Expr:
        text = exp.Literal.string(prefix + pattern)
        return exp.Anonymous(this="strftime", expressions=[stamp.copy(), text])

    millis = exp.Mod(this=micro.copy(), expression=exp.Literal.number(1000))
    return (
        exp.case()
        .when(exp.EQ(this=micro, expression=exp.Literal.number(0)), formatted("%H:%M:%S"))
        .when(exp.EQ(this=millis, expression=exp.Literal.number(0)), formatted("%H:%M:%S.%g"))
        .else_(formatted("%H:%M:%S.%f"))
    )


def _date_and_time(node: exp.Concat, types: Mapping[str, str]) -> exp.Expr | None:
    """``CONCAT(date, ' ', time)`` of a DATE and a TIME column as one ``strftime`` of their
    sum (the worklist's StudyDateTime), or ``None`` for any other concatenation."""
    parts = node.expressions
    if len(parts) != 3 or not types:
        return None
    date, space, time = parts
    if not (
        isinstance(date, exp.Column)
        and isinstance(time, exp.Column)
        and isinstance(space, exp.Literal)
        and space.is_string
        and space.this == " "
        and types.get(date.name, "").upper() == "DATE"
        and types.get(time.name, "").upper() == "TIME"
    ):
        return None
    joined = _strftime_time(exp.Add(this=date.copy(), expression=time.copy()), time, "%Y-%m-%d ")
    joined.meta["bq_text"] = True
    return joined


def _bigquery_text(value: exp.Expr, types: Mapping[str, str] | None = None) -> exp.Expr:
    """``value`` as VARCHAR, a TIME/TIMESTAMP fraction right-padded to 3 or 6 digits."""
    if isinstance(value, exp.Column) and types and value.name in types:
        typed = _typed_text(value, types[value.name].upper())
        if typed is not None:
            typed.meta["bq_text"] = True
            return typed
    text = exp.cast(value.copy(), exp.DataType.build("VARCHAR"))
    dot = exp.StrPosition(this=text.copy(), substr=exp.Literal.string("."))
    digits = exp.Length(this=text.copy()) - dot.copy()
    width = exp.case().when(digits <= 3, exp.Literal.number(3)).else_(exp.Literal.number(6))
    padded = exp.Pad(
        this=text.copy(),
        expression=exp.cast(dot.copy() + width, "INT"),
        fill_pattern=exp.Literal.string("0"),
        is_left=False,
    )
    is_temporal = exp.Typeof(this=value.copy()).isin("TIME", "TIMESTAMP")
    result = exp.case().when(exp.and_(is_temporal, dot > 0), padded).else_(text)
    result.meta["bq_text"] = True
    return result
