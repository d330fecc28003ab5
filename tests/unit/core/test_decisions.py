"""Review decisions, pure: validation, items, selection, the latest decision, the cohort kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from dicomlab.core.decisions import (
    COLUMNS,
    decision_counts,
    included_rows,
    latest_decisions,
    new_decision,
    review_items,
    select_items,
    summary_table,
    validate_decision,
    validate_level,
    validate_reason,
    validate_review_name,
    validate_reviewer,
)
from dicomlab.errors import FilterFileError, InvalidIdentifierError

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def hits() -> pd.DataFrame:
    """Two studies, three series, five instances (one series twice as many rows)."""
    return pd.DataFrame(
        {
            "StudyInstanceUID": ["1.1", "1.1", "1.1", "1.2", "1.2"],
            "SeriesInstanceUID": ["1.1.1", "1.1.1", "1.1.2", "1.2.1", "1.2.1"],
            "SOPInstanceUID": ["1.1.1.1", "1.1.1.2", "1.1.2.1", "1.2.1.1", "1.2.1.2"],
            "Modality": ["CT", "CT", "MR", "CR", "CR"],
        }
    )


def _row(items: pd.DataFrame, i: int, decision: str, seconds: int, reason: str = "") -> dict:
    level = "instance" if items.loc[i, "SOPInstanceUID"] else "series"
    return new_decision(
        "qc", level, items.iloc[i], decision, reason, "ana", when=T0 + timedelta(seconds=seconds)
    )


@pytest.mark.parametrize("name", ["lung-qc", "a", "Q.1_x", "9" * 64])
def test_review_names_that_are_accepted(name):
    assert validate_review_name(name) == name


@pytest.mark.parametrize("name", ["", "-qc", "lung qc", "qc;drop", "a" * 65, "lung/qc", None, 3])
def test_a_bad_review_name_is_refused_naming_it(name):
    with pytest.raises(InvalidIdentifierError, match="review name") as caught:
        validate_review_name(name)
    assert caught.value.value == name
    assert repr(name) in str(caught.value)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (validate_decision, "maybe"),
        (validate_decision, "Include"),
        (validate_level, "study"),
        (validate_reason, "two\nlines"),
        (validate_reason, "x" * 201),
        (validate_reviewer, ""),
        (validate_reviewer, None),
    ],
)
def test_bad_decisions_levels_reasons_and_reviewers_are_refused(check, value):
    with pytest.raises(InvalidIdentifierError) as caught:
        check(value)
    assert caught.value.value == value


def test_series_items_are_distinct_in_first_seen_order(hits):
    items = review_items(hits, "series")
    assert items["SeriesInstanceUID"].tolist() == ["1.1.1", "1.1.2", "1.2.1"]
    assert set(items["SOPInstanceUID"]) == {""}


def test_instance_items_need_the_instance_column(hits):
    assert len(review_items(hits, "instance")) == 5
    with pytest.raises(FilterFileError, match=r"lacks SOPInstanceUID: .*, or review at series"):
        review_items(hits.drop(columns="SOPInstanceUID"), "instance")


@pytest.mark.parametrize("level", ["series", "instance"])
def test_study_rows_are_refused_without_pointing_at_the_level_in_use(hits, level):
    studies = hits[["StudyInstanceUID"]].drop_duplicates()
    with pytest.raises(FilterFileError, match="SeriesInstanceUID") as caught:
        review_items(studies, level)
    assert "review at series level" not in str(caught.value)
    assert "decides on series or instances" in str(caught.value)


def test_rows_without_a_uid_are_refused_naming_them(hits):
    hits.loc[3, "SeriesInstanceUID"] = None
    with pytest.raises(FilterFileError, match=r"\[3\]") as caught:
        review_items(hits, "series")
    assert caught.value.problems[0][0] == 3


def test_items_are_selected_by_position_uids_or_rows(hits):
    items = review_items(hits, "series")
    assert select_items(items, 2) == [2]
    assert select_items(items, [0, 2]) == [0, 2]
    assert select_items(items, ("1.1", "1.1.2")) == [1]
    assert select_items(items, [("1.2", "1.2.1"), ("1.1", "1.1.1")]) == [2, 0]
    assert select_items(items, hits[hits["Modality"] == "CR"]) == [2]


@pytest.mark.parametrize("which", [3, -1, [0, 7], ("1.1", "9.9"), ("1.1",), True, "1.1", []])
def test_items_not_in_the_review_are_refused_naming_them(hits, which):
    items = review_items(hits, "series")
    with pytest.raises(InvalidIdentifierError) as caught:
        select_items(items, which)
    assert caught.value.value in (which, 7, 3, -1, ("1.1", "9.9"), ("1.1",))


def test_an_out_of_range_position_says_how_many_items_there_are(hits):
    with pytest.raises(InvalidIdentifierError, match="3 items"):
        select_items(review_items(hits, "series"), 3)


def test_a_new_decision_has_every_column_and_a_unique_id(hits):
    items = review_items(hits, "series")
    one, two = (_row(items, 0, "exclude", 0, " motion ") for _ in range(2))
    assert tuple(one) == COLUMNS
    assert one["reason"] == "motion"
    assert one["decision_id"] != two["decision_id"]


def test_the_latest_decision_per_item_wins(hits):
    items = review_items(hits, "series")
    history = pd.DataFrame(
        [
            _row(items, 0, "exclude", 5, "motion"),
            _row(items, 0, "include", 9),
            _row(items, 1, "include", 3),
            _row(items, 1, "exclude", 4, "scout view"),
        ]
    ).sample(frac=1, random_state=1)  # the table gives rows in any order
    latest = latest_decisions(history)
    assert dict(zip(latest["SeriesInstanceUID"], latest["decision"], strict=True)) == {
        "1.1.1": "include",
        "1.1.2": "exclude",
    }


def test_included_rows_drop_only_the_excluded_items_rows(hits):
    items = review_items(hits, "series")
    latest = latest_decisions(
        pd.DataFrame([_row(items, 0, "exclude", 1, "motion"), _row(items, 1, "include", 1)])
    )
    kept = included_rows(hits, latest, "series")
    assert kept["SOPInstanceUID"].tolist() == ["1.1.2.1", "1.2.1.1", "1.2.1.2"]
    assert kept.index.tolist() == [2, 3, 4]  # the hits' own rows, untouched
    assert decision_counts(items, latest) == {"included": 1, "excluded": 1, "undecided": 1}


def test_an_instance_review_excludes_single_instances(hits):
    items = review_items(hits, "instance")
    latest = latest_decisions(pd.DataFrame([_row(items, 4, "exclude", 1, "burned-in text")]))
    kept = included_rows(hits, latest, "instance")
    assert kept["SOPInstanceUID"].tolist() == ["1.1.1.1", "1.1.1.2", "1.1.2.1", "1.2.1.1"]


def test_no_decision_keeps_every_row(hits):
    kept = included_rows(hits, latest_decisions(pd.DataFrame(columns=list(COLUMNS))), "series")
    assert kept.equals(hits) and kept is not hits


def test_the_summary_counts_decisions_and_reasons_largest_first(hits):
    items = review_items(hits, "instance")
    rows = [_row(items, i, "exclude", 1, "motion") for i in (0, 1)]
    rows.append(_row(items, 2, "include", 1))
    table = summary_table(items, latest_decisions(pd.DataFrame(rows)))
    assert table.to_dict("records") == [
        {"decision": "exclude", "reason": "motion", "items": 2},
        {"decision": "undecided", "reason": "", "items": 2},
        {"decision": "include", "reason": "", "items": 1},
    ]
