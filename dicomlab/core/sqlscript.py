"""BigQuery scripts as DuckDB statements: what runs first, and the query whose rows return.

Pure: no I/O. A BigQuery script is statements separated by ``;`` whose last
statement's rows are the result (BigQuery's "Work with multi-statement
queries"). What scripts commonly hold before their final query is supported:

==================================================  =============================================
BigQuery                                            DuckDB
==================================================  =============================================
``DECLARE x[, y] [type] [DEFAULT expr]``            ``SET VARIABLE x = (SELECT CAST(expr AS type))``
``SET x = expr``, ``SET (x, y) = (a, b)``           ``SET VARIABLE x = …`` (cast to x's type)
``CREATE TEMP FUNCTION f(a T) [RETURNS R] AS (e)``  ``CREATE TEMP MACRO f(a) AS CAST(e AS R)``,
                                                    each ``a`` in ``e`` cast to ``T``
``CREATE TEMP TABLE t AS query``                    the same (a table of this connection only)
a query before the last                             run, its rows discarded
==================================================  =============================================

Sources: https://cloud.google.com/bigquery/docs/multi-statement-queries (the
last statement's result is the script's), the procedural language's
``DECLARE`` and ``SET`` (https://cloud.google.com/bigquery/docs/reference/standard-sql/procedural-language),
temporary SQL and JavaScript functions
(https://cloud.google.com/bigquery/docs/user-defined-functions); DuckDB's
``SET VARIABLE``/``getvariable`` (https://duckdb.org/docs/sql/statements/set_variable)
and ``CREATE MACRO`` (https://duckdb.org/docs/sql/statements/create_macro).

A variable is read as ``getvariable('x')`` wherever its name stands alone and
is no column of the table (a column of that name wins). Everything else
(``LANGUAGE js`` functions, DML, DDL on permanent tables, ``IF``/``LOOP``/
``BEGIN``, ``EXECUTE IMMEDIATE``) is refused with a
:class:`~dicomlab.errors.QueryError` naming the statement: lab.sql runs
queries and never changes the warehouse.

>>> import sqlglot
>>> trees = sqlglot.parse("DECLARE x FLOAT64 DEFAULT 2; SELECT x * 2", read="bigquery")
>>> script = to_duckdb_script(trees, columns=set(), finish=lambda tree: None)
>>> script.setup[0].sql
'SET VARIABLE x = (SELECT CAST(2 AS DOUBLE) AS v)'
>>> script.query.sql
"SELECT GETVARIABLE('x') * 2"
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from dicomlab.errors import QueryError

__all__ = ["DuckDBScript", "Statement", "to_duckdb_script"]

_SUPPORTED = "DECLARE, SET, CREATE TEMP FUNCTION (SQL body), CREATE TEMP TABLE … AS and queries"


@dataclass(frozen=True)
class Statement:
    """One DuckDB statement and the ``@parameters`` it reads (bound as ``$name``)."""

    sql: str
    parameters: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DuckDBScript:
    """A script on DuckDB: ``setup`` runs in order, then ``query`` gives the rows."""

    setup: tuple[Statement, ...]
    query: Statement
    views: frozenset[str] = field(default=frozenset())


@dataclass
class _State:
    """What the statements so far declared: variables, with their types (``None``: any)."""

    columns: Collection[str]
    finish: Callable[[exp.Expr], object]
    variables: dict[str, exp.DataType | None] = field(default_factory=dict)


def to_duckdb_script(
    statements: Sequence[exp.Expr],
    *,
    columns: Collection[str],
    finish: Callable[[exp.Expr], object],
) -> DuckDBScript:
    """The DuckDB statements of a BigQuery script (see the module for what is supported).

    ``columns`` (lowercase) are the table's, whose names a variable never
    shadows; ``finish`` rewrites a query tree in place for DuckDB (tables,
    BigQuery's semantics) and is called once per query or expression.
    """
    state = _State({c.lower() for c in columns}, finish)
    setup: list[Statement] = []
    *before, last = statements
    for number, tree in enumerate(before, start=1):
        setup.extend(_statement(tree, number, state))
    if not isinstance(last, exp.Query):
        if not isinstance(last, (exp.Declare, exp.Set)) and not (
            isinstance(last, exp.Create) and _temporary(last)
        ):
            raise _refused(last, len(statements))
        raise QueryError(
            f"the last statement ({_shown(last)}) returns no rows: end the script with "
            "the query whose rows you want"
        )
    return DuckDBScript(tuple(setup), _query(last, state))


def _shown(tree: exp.Expr) -> str:
    text = " ".join(tree.sql("bigquery").split())
    return text if len(text) <= 60 else text[:57] + "..."


def _parameters(tree: exp.Expr) -> frozenset[str]:
    return frozenset(p.name for p in tree.find_all(exp.Parameter))


def _variables(tree: exp.Expr, state: _State) -> exp.Expr:
    """``tree`` with each standalone variable name read as ``getvariable('name')``."""
    for column in list(tree.find_all(exp.Column)):
        name = column.name.lower()
        if column.table or name not in state.variables or name in state.columns:
            continue
        getter: exp.Expr = exp.Anonymous(this="getvariable", expressions=[exp.Literal.string(name)])
        if column is tree:
            return getter
        if isinstance(column.parent, exp.Select) and column.arg_key == "expressions":
            getter = exp.alias_(getter, column.name)  # the column keeps the variable's name
        column.replace(getter)
    return tree


def _query(tree: exp.Expr, state: _State) -> Statement:
    params = _parameters(tree)
    tree = _variables(tree.copy(), state)
    state.finish(tree)
    return Statement(tree.sql("duckdb"), params)


def _expression(
    value: exp.Expr, kind: exp.DataType | None, state: _State, *, once: bool = True
) -> Statement:
    """``(SELECT CAST(value AS kind))``: a value computed once, as BigQuery does
    (``once=False``: the bare expression, for a function body)."""
    params = _parameters(value)
    typed = exp.cast(value.copy(), kind) if kind is not None else value.copy()
    select = exp.select(exp.alias_(_variables(typed, state), "v"))
    state.finish(select)
    if not once:
        return Statement(f"({select.expressions[0].this.sql('duckdb')})", params)
    return Statement(f"({select.sql('duckdb')})", params)


def _set_variable(name: str, value: Statement) -> Statement:
    return Statement(f"SET VARIABLE {exp.to_identifier(name).sql('duckdb')} = {value.sql}",
                     value.parameters)  # fmt: skip


def _statement(tree: exp.Expr, number: int, state: _State) -> list[Statement]:
    if isinstance(tree, exp.Declare):
        return _declare(tree, state)
    if isinstance(tree, exp.Set):
        return _set(tree, number, state)
    if isinstance(tree, exp.Create) and _temporary(tree):
        if tree.kind == "FUNCTION":
            return [_temp_function(tree, state)]
        if tree.kind == "TABLE" and isinstance(tree.expression, exp.Query):
            query = _query(tree.expression, state)
            name = exp.to_identifier(tree.this.name).sql("duckdb")
            return [Statement(f"CREATE TEMP TABLE {name} AS {query.sql}", query.parameters)]
    if isinstance(tree, exp.Query):
        return [_query(tree, state)]
    raise _refused(tree, number)


def _refused(tree: exp.Expr, number: int) -> QueryError:
    return QueryError(
        f"statement {number} ({_shown(tree)}) cannot run on the embedded warehouse: a script "
        f"may hold {_SUPPORTED}, and never changes the warehouse; run it on BigQuery"
    )


def _temporary(tree: exp.Create) -> bool:
    properties = tree.args.get("properties")
    return properties is not None and properties.find(exp.TemporaryProperty) is not None


def _declare(tree: exp.Declare, state: _State) -> list[Statement]:
    out: list[Statement] = []
    for item in tree.expressions:
        kind = item.args.get("kind")
        default = item.args.get("default")
        value = default if isinstance(default, exp.Expr) else exp.null()
        if kind is None and not isinstance(default, exp.Expr):
            raise QueryError(f"DECLARE {_shown(item)} needs a type or a DEFAULT value")
        for name in item.this:
            computed = _expression(value, kind, state)
            state.variables[name.name.lower()] = kind
            out.append(_set_variable(name.name.lower(), computed))
    return out


def _set(tree: exp.Set, number: int, state: _State) -> list[Statement]:
    out: list[Statement] = []
    for item in tree.expressions:
        assignment = item.this
        if not isinstance(assignment, exp.EQ):
            raise QueryError(f"statement {number} ({_shown(tree)}): expected SET name = value")
        target, value = assignment.this, assignment.expression
        if isinstance(target, exp.Tuple) and isinstance(value, exp.Tuple):
            pairs = list(zip(target.expressions, value.expressions, strict=False))
            if len(target.expressions) != len(value.expressions):
                raise QueryError(f"statement {number} ({_shown(tree)}): as many values as names")
        else:
            pairs = [(target, value)]
        computed = []
        for name_node, expr in pairs:  # every value first: SET (a, b) = (b, a) swaps
            name = name_node.name.lower()
            if not isinstance(name_node, exp.Column) or name not in state.variables:
                raise QueryError(
                    f"statement {number} ({_shown(tree)}) sets {name_node.sql('bigquery')!r}, "
                    "which no DECLARE before it names; declare it first"
                )
            computed.append((name, _expression(expr, state.variables[name], state)))
        if len(computed) > 1:
            out.extend(_swap_safe(computed))
        else:
            out.extend(_set_variable(name, value) for name, value in computed)
    return out


def _swap_safe(computed: list[tuple[str, Statement]]) -> list[Statement]:
    """Several variables set at once: each value computed before any variable changes."""
    staged = [(name, f"__dicomlab_set_{number}") for number, (name, _) in enumerate(computed)]
    first = [
        _set_variable(temp, value) for (_, temp), (_, value) in zip(staged, computed, strict=True)
    ]
    then = [
        Statement(f"SET VARIABLE {exp.to_identifier(name).sql('duckdb')} = getvariable('{temp}')")
        for name, temp in staged
    ]
    return first + then


def _temp_function(tree: exp.Create, state: _State) -> Statement:
    """``CREATE TEMP FUNCTION`` with a SQL body as a DuckDB temporary macro."""
    function = tree.this
    name = function.this.name if isinstance(function.this, exp.Table) else function.name
    language = tree.args["properties"].find(exp.LanguageProperty)
    if language is not None and language.name.upper() != "SQL":
        raise QueryError(
            f"CREATE TEMP FUNCTION {name} has a {language.name} body, which the embedded "
            "warehouse cannot run; rewrite it as a SQL function (AS (expression)) or run "
            "the script on BigQuery"
        )
    body = tree.expression
    if not isinstance(body, exp.Expr) or isinstance(body, (exp.RawString, exp.Literal)):
        raise QueryError(f"CREATE TEMP FUNCTION {name}: expected a SQL body AS (expression)")
    params = {p.name.lower(): p.args.get("kind") for p in function.expressions}
    body = body.copy()
    for column in list(body.find_all(exp.Column)):
        kind = params.get(column.name.lower())
        if not column.table and kind is not None:  # BigQuery coerces arguments to their type
            column.replace(exp.cast(exp.column(column.name.lower()), kind))
    returns = tree.args["properties"].find(exp.ReturnsProperty)
    kind = returns.this if returns is not None and isinstance(returns.this, exp.DataType) else None
    # Inside the body a parameter hides a script variable of the same name.
    visible = {k: v for k, v in state.variables.items() if k not in params}
    scope = _State(state.columns, state.finish, visible)
    value = _expression(body, kind, scope, once=False)
    names = ", ".join(exp.to_identifier(p).sql("duckdb") for p in params)
    macro = exp.to_identifier(name).sql("duckdb")
    return Statement(f"CREATE OR REPLACE TEMP MACRO {macro}({names}) AS {value.sql}",
                     value.parameters)  # fmt: skip
