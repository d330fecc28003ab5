"""BigQuery's answers on DuckDB: rewrites where sqlglot's translation would differ.

sqlglot translates BigQuery SQL to DuckDB's syntax, but some functions keep
their name and change their meaning. Each rewrite here makes DuckDB compute
BigQuery's documented result, or refuses with a :class:`~dicomlab.errors.QueryError`
naming the function, so a query never quietly gives another answer than it
would on BigQuery:

- ``FORMAT('%05d', 42)``: DuckDB's ``format`` takes ``{}`` patterns and would
  return ``'%05d'``; it becomes ``printf``, whose ``%d %i %o %x %X %f %F %e %E
  %g %G %s %%`` (with the ``- + space # 0`` flags, width and precision) are
  BigQuery's. ``%t %T %p %P``, the ``'`` flag, ``*`` widths and a format that is
  not a string literal are refused.
- ``CAST(x AS INT64)`` (and ``SAFE_CAST``): BigQuery refuses a string that is
  not an integer (``'1.5'``, ``'1e3'``) where DuckDB rounds it; a float is rounded
  half away from zero (``2.5`` → 3, ``-2.5`` → -3) where DuckDB rounds half to
  even; ``INTEGER``/``INT``/``SMALLINT``… are all INT64 in BigQuery, not DuckDB's
  32-bit or 16-bit integers.
- ``CAST(x AS BOOL)`` of a string takes only ``'true'``/``'false'`` (any case),
  where DuckDB also reads ``'1'``, ``'t'``, ``'yes'``; ``NUMERIC`` is
  ``DECIMAL(38, 9)``, not DuckDB's default ``DECIMAL(18, 3)``; a cast to
  ``BIGNUMERIC`` (76 digits) is refused.
- ``EXTRACT(DAYOFWEEK …)`` is 1 (Sunday) to 7 in BigQuery, 0 to 6 in DuckDB;
  ``EXTRACT(WEEK …)`` counts Sunday-based weeks from 0 (``WEEK(MONDAY)``:
  Monday-based), where DuckDB gives the ISO week; ``ISOWEEK`` is DuckDB's ``WEEK``.
- ``SUBSTR(s, 0, n)`` and positions before the start begin at the first
  character in BigQuery; a negative length is an error there.

>>> import sqlglot
>>> tree = sqlglot.parse_one("SELECT FORMAT('%05d', 42)", read="bigquery")
>>> bigquery_semantics_for_duckdb(tree)
>>> tree.sql("duckdb")
"SELECT PRINTF('%05d', 42)"
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlglot import exp

from dicomlab.errors import QueryError

__all__ = ["bigquery_semantics_for_duckdb"]

# One printf conversion: flags, width, precision, conversion character.
_SPEC_RE = re.compile(r"%(?P<flags>[^a-zA-Z%]*?)(?P<conv>[a-zA-Z%]|$)")
_FLAGS_RE = re.compile(r"[-+ #0]*(\d+)?(\.\d+)?")
_PRINTF_CONVERSIONS = frozenset("diouxXfFeEgGs%") - {"u"}
# What BigQuery's CAST(STRING AS INT64) accepts: a decimal or hexadecimal integer.
_INT64_TEXT = r"\s*[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\s*"
# What CAST(STRING AS BOOL) accepts (DuckDB would also take '1', 't', 'yes'…).
_BOOL_TEXT = r"(?i)true|false"
_INTEGER_TYPES = (
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.TINYINT,
)


def bigquery_semantics_for_duckdb(
    tree: exp.Expr, column_types: Mapping[str, str] | None = None
) -> None:
    """Rewrite ``tree`` (parsed as BigQuery) in place so DuckDB gives BigQuery's results.

    ``column_types`` (DuckDB type names by column), when known, lets a cast of
    a column skip the checks its type does not need. Raises
    :class:`~dicomlab.errors.QueryError` naming the function where no faithful
    translation exists. Nodes are visited deepest first, so an outer rewrite
    copies inner ones already rewritten.
    """
    types = {name: kind.upper() for name, kind in (column_types or {}).items()}
    for node in reversed(list(tree.bfs())):
        if isinstance(node, exp.Format):
            node.replace(_printf(node))
        elif isinstance(node, exp.Cast):
            _bigquery_cast(node, types)
        elif isinstance(node, exp.Extract):
            _bigquery_extract(node)
        elif isinstance(node, exp.Substring):
            _bigquery_substring(node)


def _bigquery_cast(node: exp.Cast, types: Mapping[str, str]) -> None:
    """Casts to INT64, BOOL, NUMERIC and BIGNUMERIC with BigQuery's rules."""
    to, value = node.to, node.this
    known = types.get(value.name) if isinstance(value, exp.Column) else None
    if to.is_type(*_INTEGER_TYPES):
        node.replace(_checked_cast(node, "BIGINT", _INT64_TEXT, "int64", known))
    elif to.is_type(exp.DataType.Type.BOOLEAN):
        node.replace(_checked_cast(node, "BOOLEAN", _BOOL_TEXT, "bool", known))
    elif to.is_type(exp.DataType.Type.DECIMAL) and not to.expressions:
        node.set("to", exp.DataType.build("DECIMAL(38, 9)"))  # NUMERIC, not DuckDB's (18, 3)
    elif to.is_type(exp.DataType.Type.BIGDECIMAL):
        raise QueryError(
            f"CAST to BIGNUMERIC in {node.sql('bigquery')!r} has no DuckDB equivalent (DuckDB's "
            "DECIMAL holds 38 digits, BIGNUMERIC 76 with 38 after the point); use NUMERIC "
            "or FLOAT64, or run the query on BigQuery"
        )


def _printf(node: exp.Format) -> exp.Expr:
    """``FORMAT(fmt, …)`` as DuckDB's ``printf``, once every conversion in ``fmt`` is checked."""
    pattern = node.this
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise QueryError(
            f"FORMAT with the format {pattern.sql('bigquery')} (not a string literal) cannot "
            "be checked to give BigQuery's result on DuckDB; write the format as a literal"
        )
    for match in _SPEC_RE.finditer(pattern.this):
        spec, flags, conv = match.group(0), match.group("flags"), match.group("conv")
        if conv not in _PRINTF_CONVERSIONS or _FLAGS_RE.fullmatch(flags) is None:
            raise QueryError(
                f"FORMAT specifier {spec!r} in {pattern.this!r} has no exact DuckDB "
                "equivalent (%t, %T, %p, %P, the ' flag and * widths have none); "
                "use %s with CAST(… AS STRING), or run the query on BigQuery"
            )
    return exp.Anonymous(this="printf", expressions=[pattern.copy(), *node.expressions])


def _checked_cast(
    node: exp.Cast, target: str, pattern: str, name: str, known: str | None = None
) -> exp.Expr:
    """``CAST``/``SAFE_CAST(x AS target)`` that first checks a string ``x`` as BigQuery does.

    A string not matching ``pattern`` fails with BigQuery's message ("Bad int64
    value: 1.5"), or gives NULL under ``SAFE_CAST``; other values cast as they
    are, INT64 rounding floats half away from zero. When ``x``'s DuckDB type is
    not ``known``, the choice is made with ``typeof(x)`` (which DuckDB folds),
    and every branch binds whenever the plain cast does.
    """
    safe = isinstance(node, exp.TryCast)
    value = node.this

    def cast(expr: exp.Expr) -> exp.Expr:
        kind = exp.DataType.build(target)
        return exp.TryCast(this=expr, to=kind) if safe else exp.Cast(this=expr, to=kind)

    text = exp.cast(value.copy(), "VARCHAR")
    text.meta["bq_text"] = True  # a plain cast: not one to print as BigQuery would
    matches = exp.Anonymous(
        this="regexp_full_match", expressions=[text, exp.Literal.string(pattern)]
    )
    message = exp.DPipe(this=exp.Literal.string(f"Bad {name} value: "), expression=text.copy())
    refused = exp.null() if safe else exp.Anonymous(this="error", expressions=[message])
    # DuckDB's ROUND on a DOUBLE rounds halfway cases away from zero, as BigQuery's cast;
    # its CAST from DOUBLE to BIGINT rounds them to even.
    rounded = cast(exp.Anonymous(this="round", expressions=[exp.cast(value.copy(), "DOUBLE")]))
    floats = ("DOUBLE", "FLOAT")
    if known == "VARCHAR":
        return exp.case().when(exp.not_(matches), refused).else_(cast(value.copy()))
    if known is not None:
        return rounded if target == "BIGINT" and known in floats else cast(value.copy())
    is_text = exp.EQ(this=exp.Typeof(this=value.copy()), expression=exp.Literal.string("VARCHAR"))
    result = exp.case().when(exp.and_(is_text, exp.not_(matches)), refused)
    if target == "BIGINT":
        result = result.when(exp.Typeof(this=value.copy()).isin(*floats), rounded)
    return exp.cast(result.else_(cast(value.copy())), target)


def _bigquery_extract(node: exp.Extract) -> None:
    """``EXTRACT`` parts whose numbering differs between the engines."""
    part = node.this
    name = part.name.upper() if isinstance(part, (exp.Var, exp.Identifier)) else ""
    value = node.expression
    if name == "DAYOFWEEK":  # BigQuery: Sunday is 1; DuckDB: Sunday is 0
        node.replace(exp.paren(exp.Add(this=node.copy(), expression=exp.Literal.number(1))))
    elif name == "ISOWEEK":
        node.set("this", exp.var("WEEK"))
    elif name == "WEEK" or isinstance(part, exp.WeekStart):
        start = "SUNDAY" if name == "WEEK" else part.this.name.upper()
        if start not in ("SUNDAY", "MONDAY"):
            raise QueryError(
                f"EXTRACT(WEEK({start}) …) has no DuckDB equivalent; "
                "use WEEK (Sunday), WEEK(MONDAY) or ISOWEEK"
            )
        pattern = "%U" if start == "SUNDAY" else "%W"
        strftime = exp.Anonymous(
            this="strftime", expressions=[value.copy(), exp.Literal.string(pattern)]
        )
        node.replace(exp.cast(strftime, "BIGINT"))


def _number_at_least(node: exp.Expr, least: int) -> bool:
    """Whether ``node`` is a number literal of at least ``least`` (no rewrite needed)."""
    value = node.to_py() if isinstance(node, exp.Literal) and node.is_number else None
    return isinstance(value, (int, float)) and value >= least


def _bigquery_substring(node: exp.Substring) -> None:
    """``SUBSTR``: positions 0 and before the start mean 1; a negative length is an error."""
    value, start, length = node.this, node.args.get("start"), node.args.get("length")
    if start is not None and not _number_at_least(start, 1):
        before = exp.LT(
            this=start.copy(),
            expression=exp.Neg(this=exp.Length(this=value.copy())),
        )
        at_zero = exp.EQ(this=start.copy(), expression=exp.Literal.number(0))
        node.set(
            "start",
            exp.case().when(exp.or_(at_zero, before), exp.Literal.number(1)).else_(start.copy()),
        )
    if length is not None and not _number_at_least(length, 0):
        negative = exp.LT(this=length.copy(), expression=exp.Literal.number(0))
        message = exp.Literal.string("Third argument in SUBSTR() cannot be negative")
        error = exp.Anonymous(this="error", expressions=[message])
        node.set("length", exp.case().when(negative, error).else_(length.copy()))
