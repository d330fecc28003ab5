"""Cohort plots: the numbers drawn, the labels shown, and the errors raised."""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import sys

import db_dtypes  # noqa: F401  (registers the dbdate dtype)
import matplotlib.dates as mdates
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dicomlab.errors import DicomlabError, InvalidRequestError
from dicomlab.notebook import plots
from dicomlab.notebook.plots import (
    cohort_summary,
    instances_per_patient,
    instances_per_series,
    modality_mix,
    studies_over_time,
)

PLOTS = [modality_mix, studies_over_time, instances_per_series, instances_per_patient]


def widths(ax):
    return [int(p.get_width()) for p in ax.patches]


def heights(ax):
    return [int(p.get_height()) for p in ax.patches]


def ylabels(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def texts(ax):
    """The texts drawn in the axes, with line wrapping undone."""
    return [" ".join(t.get_text().split()) for t in ax.texts]


def bars(ax):
    """Label -> bar length of a horizontal bar chart."""
    return dict(zip(ylabels(ax), widths(ax), strict=True))


def years(ax):
    """Year of each bar's left edge -> bar height."""
    return {mdates.num2date(p.get_x()).year: int(p.get_height()) for p in ax.patches}


def rendered(fig):
    fig.savefig(io.BytesIO(), format="png")
    return fig


def all_integers(ticks):
    return all(float(t).is_integer() for t in ticks)


@pytest.fixture
def rows():
    """Instance rows with a repeated row, a missing and a blank Modality."""
    return pd.DataFrame(
        {
            "PatientID": ["p1", "p1", "p1", "p2", "p3", "p3"],
            "StudyInstanceUID": ["1.1", "1.1", "1.1", "1.2", "1.3", "1.3"],
            "SeriesInstanceUID": ["1.1.1", "1.1.1", "1.1.2", "1.2.1", "1.3.1", "1.3.1"],
            "SOPInstanceUID": ["a", "b", "c", "d", "e", "e"],
            "Modality": ["CT", "CT", "MR", None, " ", " "],
        }
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample cohort, exported: (lab, every row of dicom_metadata)."""
    import dicomlab

    lab = dicomlab.connect(home=tmp_path_factory.mktemp("plots"))
    lab.export_metadata(progress=False, workers=1)
    return lab, lab.sql("SELECT * FROM dicom_metadata")


# --- modality_mix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "expected", "total"),
    [
        ("instances", {"(none)": 2, "CT": 2, "MR": 1}, "5 instances"),
        ("series", {"(none)": 2, "CT": 1, "MR": 1}, "4 series"),
        ("studies", {"(none)": 2, "CT": 1, "MR": 1}, "3 studies"),
        ("patients", {"(none)": 2, "CT": 1, "MR": 1}, "3 patients"),
    ],
)
def test_modality_mix_counts_distinct_uids(rows, by, expected, total):
    ax = modality_mix(rows, by=by).axes[0]
    assert bars(ax) == expected
    assert ylabels(ax) == list(expected)  # largest first, ties in label order
    assert ax.get_title() == f"{by.capitalize()} per modality\n{total}"
    assert ax.get_xlabel() == by


def test_modality_mix_sums_instance_count_of_aggregated_rows():
    df = pd.DataFrame(
        {"Modality": ["CT", "MR", "CT", None], "InstanceCount": pd.array([10, 5, 3, None], "Int64")}
    )
    ax = modality_mix(df).axes[0]
    assert bars(ax) == {"CT": 13, "MR": 5, "(none)": 0}
    assert ax.get_title() == "Instances per modality\n18 instances"


def test_modality_mix_rejects_unknown_level(rows):
    with pytest.raises(InvalidRequestError, match="by='modalities' is not one of 'instances'"):
        modality_mix(rows, by="modalities")


def test_long_labels_are_shortened_keeping_both_ends():
    long = "ACQUISITION_CONTEXT_" * 3 + "END"
    ax = modality_mix(pd.DataFrame({"Modality": [long], "SOPInstanceUID": ["1"]})).axes[0]
    (label,) = ylabels(ax)
    assert len(label) == 28 and "…" in label
    assert label.startswith("ACQUISITION") and label.endswith("END")


def test_bar_counts_get_integer_ticks_and_printed_values(rows):
    fig = rendered(modality_mix(rows, by="series"))
    ax = fig.axes[0]
    assert all_integers(ax.get_xticks())
    assert texts(ax) == ["2", "1", "1"]
    assert tuple(fig.get_size_inches()) == plots.FIGSIZE


def _band_under_bars(ax) -> float:
    """How far the axes reach below the lowest bar, as a share of the axes' height."""
    bottom, top = ax.get_ylim()  # inverted: bottom > top
    lowest = max(bar.get_y() + bar.get_height() for bar in ax.patches)
    return (bottom - lowest) / (bottom - top)


@pytest.mark.parametrize("modalities", [["CT"], ["CT", "MR"], ["CT", "MR", "US", "CT"]])
def test_a_few_bars_leave_no_empty_band_and_keep_their_thickness(modalities):
    df = pd.DataFrame(
        {"Modality": modalities, "SeriesInstanceUID": list("abcd")[: len(modalities)]}
    )
    fig = rendered(modality_mix(df, by="series"))
    ax = fig.axes[0]
    assert _band_under_bars(ax) <= 0.2, ax.get_ylim()
    # a bar is as thick, in inches, as one of three in a full-size figure
    thickness = ax.patches[0].get_height() / abs(ax.get_ylim()[0] - ax.get_ylim()[1])
    inches = thickness * ax.get_position().height * fig.get_size_inches()[1]
    reference = rendered(
        modality_mix(
            pd.DataFrame({"Modality": ["A", "B", "C"], "SeriesInstanceUID": ["1", "2", "3"]}),
            by="series",
        )
    )
    ref_ax = reference.axes[0]
    ref_inches = (ref_ax.patches[0].get_height() / 3) * ref_ax.get_position().height * 3.5
    assert inches == pytest.approx(ref_inches, rel=0.35)


def test_a_few_bars_in_given_axes_fill_them_too():
    from matplotlib.figure import Figure

    ax = Figure(figsize=plots.FIGSIZE).add_subplot()
    modality_mix(pd.DataFrame({"Modality": ["CT"], "SOPInstanceUID": ["1"]}), ax=ax)
    assert _band_under_bars(ax) <= 0.4 and ax.get_ylim() == (0.5, -0.5)


# --- studies_over_time ----------------------------------------------------------------------

DATES = [
    datetime.date(1995, 9, 3),
    datetime.date(2001, 1, 1),
    datetime.date(2001, 6, 30),
    datetime.date(2003, 5, 5),
    None,
]
PER_YEAR = {1995: 1, 1996: 0, 1997: 0, 1998: 0, 1999: 0, 2000: 0, 2001: 2, 2002: 0, 2003: 1}


def _as_datetime64(dates):
    return pd.to_datetime(pd.Series(dates))


@pytest.mark.parametrize(
    ("column", "convert"),
    [
        ("StudyDate", lambda d: pd.Series(d, dtype="dbdate")),
        ("StudyDate", _as_datetime64),
        ("StudyDate", lambda d: _as_datetime64(d) + pd.Timedelta(hours=23)),
        ("StudyDate", lambda d: _as_datetime64(d).dt.tz_localize("UTC")),
        ("StudyDate", lambda d: pd.Series(d, dtype=object)),
        ("StudyDate", lambda d: pd.Series([x and x.strftime("%Y%m%d") for x in d])),
        ("StudyDate", lambda d: pd.Series([x and x.isoformat() for x in d], dtype="string")),
        ("StudyDate", lambda d: pd.Series([x and x.strftime("%Y.%m.%d") for x in d])),
        ("StudyDateTime", lambda d: pd.Series([x and f"{x.isoformat()} 07:59:11" for x in d])),
    ],
    ids=[
        "dbdate",
        "datetime64",
        "datetime64-with-time",
        "datetime64-tz",
        "date-objects",
        "YYYYMMDD",
        "YYYY-MM-DD",
        "YYYY.MM.DD",
        "StudyDateTime",
    ],
)
def test_studies_over_time_reads_every_date_representation(column, convert):
    df = pd.DataFrame({"StudyInstanceUID": ["1.1", "1.2", "1.3", "1.4", "1.5"]})
    df[column] = convert(DATES)
    ax = studies_over_time(df).axes[0]
    assert years(ax) == PER_YEAR
    assert ax.get_title() == f"Studies per year\n4 studies dated; 1 without a {column}, not shown"
    assert ax.get_ylabel() == "studies"


def test_a_study_counts_once_at_its_earliest_date():
    df = pd.DataFrame(
        {
            "StudyInstanceUID": ["1.1", "1.1", "1.1", "1.2", None],
            "StudyDate": ["20030101", "20010101", None, "20030101", "19990101"],
        }
    )
    ax = studies_over_time(df).axes[0]
    assert years(ax) == {2001: 1, 2002: 0, 2003: 1}
    assert ax.get_title() == "Studies per year\n2 studies dated"


def test_studies_per_month_bars_span_their_months():
    df = pd.DataFrame(
        {"StudyInstanceUID": ["a", "b", "c"], "StudyDate": ["20010115", "20010301", "20010331"]}
    )
    fig = rendered(studies_over_time(df, freq="MS"))
    ax = fig.axes[0]
    starts = [mdates.num2date(p.get_x()).date() for p in ax.patches]
    assert starts == [datetime.date(2001, m, 1) for m in (1, 2, 3)]
    assert heights(ax) == [1, 0, 2]
    assert 0.8 * 28 < ax.patches[1].get_width() < 28  # February, with a gap between bars
    assert ax.get_title() == "Studies per month\n3 studies dated"
    assert all_integers(ax.get_yticks())


def test_unreadable_dates_count_as_undated():
    df = pd.DataFrame(
        {
            "StudyInstanceUID": ["a", "b", "c", "d"],
            "StudyDate": ["20011301", "garbage", "", "20020202"],
        }
    )
    ax = studies_over_time(df).axes[0]
    assert heights(ax) == [1]
    assert ax.get_title() == "Studies per year\n1 study dated; 3 without a StudyDate, not shown"


def test_no_dated_study_says_so():
    df = pd.DataFrame({"StudyInstanceUID": ["a", "b"], "StudyDate": [None, None]})
    ax = studies_over_time(df).axes[0]
    assert len(ax.patches) == 0 and texts(ax) == ["no StudyDate on any study (2 studies)"]


def test_studies_over_time_names_multi_year_periods():
    df = pd.DataFrame({"StudyInstanceUID": ["a", "b"], "StudyDate": ["19990101", "20070101"]})
    ax = studies_over_time(df, freq="5YS").axes[0]
    assert heights(ax) == [1, 1] and ax.get_title() == "Studies per 5 years\n2 studies dated"


def test_studies_over_time_rejects_unknown_frequency():
    df = pd.DataFrame({"StudyInstanceUID": ["a"], "StudyDate": ["20010101"]})
    with pytest.raises(InvalidRequestError, match="freq='yearly' is not a pandas frequency"):
        studies_over_time(df, freq="yearly")


# --- instances_per_series / instances_per_patient ------------------------------------------


def test_few_series_are_sorted_labelled_bars(rows):
    rows["SeriesDescription"] = ["T1 AXIAL", "T1 AXIAL", None, "", "LOCALIZER", None]
    ax = instances_per_series(rows).axes[0]
    assert bars(ax) == {
        "LOCALIZER · …1.3.1": 2,
        "T1 AXIAL · …1.1.1": 2,
        "1.1.2": 1,
        "1.2.1": 1,
    }
    assert ax.get_title() == "Instances per series\n4 series, 6 instances"
    assert ax.get_xlabel() == "instances"


def test_series_with_instance_count_are_summed():
    df = pd.DataFrame(
        {"SeriesInstanceUID": ["1.1", "1.2", "1.1"], "InstanceCount": pd.array([4, 1, 3], "Int64")}
    )
    assert bars(instances_per_series(df).axes[0]) == {"1.1": 7, "1.2": 1}


def test_many_series_become_a_histogram():
    counts = [(i % 5) + 1 for i in range(25)]  # five series each of 1..5 instances
    uids = [f"1.2.{i}" for i, n in enumerate(counts) for _ in range(n)]
    fig = rendered(instances_per_series(pd.DataFrame({"SeriesInstanceUID": uids})))
    ax = fig.axes[0]
    assert heights(ax) == [5, 5, 5, 5, 5]
    assert [p.get_x() for p in ax.patches] == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("instances per series", "series")
    assert ax.get_title() == "Instances per series\n25 series; median 3, max 5"
    assert all_integers(ax.get_yticks())


def test_histogram_of_counts_spanning_decades_is_logarithmic():
    df = pd.DataFrame(
        {"PatientID": [f"p{i}" for i in range(200)], "InstanceCount": [1] * 150 + [5000] * 50}
    )
    ax = instances_per_patient(df).axes[0]
    assert ax.get_xscale() == "log"
    assert sum(heights(ax)) == 200 and heights(ax)[0] == 150 and heights(ax)[-1] == 50


def test_max_bars_chooses_between_bars_and_histogram(rows):
    assert ylabels(instances_per_patient(rows, max_bars=3).axes[0]) == ["p1", "p3", "p2"]
    ax = instances_per_patient(rows, max_bars=2).axes[0]
    assert ax.get_xlabel() == "instances per patient" and sum(heights(ax)) == 3


def test_patients_of_aggregated_rows_sum_instance_count():
    df = pd.DataFrame(
        {
            "PatientID": ["p1", "p1", "p2", None, "p3"],
            "InstanceCount": pd.array([3, 4, 10, 2, None], "Int64"),
        }
    )
    ax = instances_per_patient(df).axes[0]
    assert bars(ax) == {"p2": 10, "p1": 7, "(none)": 2, "p3": 0}
    assert ax.get_title() == "Instances per patient\n4 patients, 19 instances"


# --- missing columns and empty frames -------------------------------------------------------


def test_missing_columns_are_named_with_a_query_that_has_them():
    worklist = pd.DataFrame(columns=["StudyDateTime", "PatientID", "StudyInstanceUID"])
    with pytest.raises(DicomlabError) as caught:
        instances_per_series(worklist)
    message = str(caught.value)
    assert "instances_per_series needs the column SeriesInstanceUID," in message
    assert "has no SeriesInstanceUID" in message
    assert "(it has StudyDateTime, PatientID, StudyInstanceUID)" in message
    assert 'lab.sql("SELECT * FROM dicom_metadata") has every column' in message
    assert 'so does lab.query("patient_dicomweb_paths", ...)' in message


def test_missing_date_column_mentions_both_date_columns():
    df = pd.DataFrame({"StudyInstanceUID": ["1"], "PatientID": ["p"]})
    with pytest.raises(DicomlabError) as caught:
        studies_over_time(df)
    message = str(caught.value)
    assert "needs the columns StudyInstanceUID and StudyDate (or StudyInstanceUID and " in message
    assert "has no StudyDate (it has StudyInstanceUID, PatientID)" in message
    assert 'lab.query("latest_studies", ...) or lab.query("studies_by_modality", ...)' in message


def test_missing_modality_has_no_canned_query_and_lists_few_columns():
    df = pd.DataFrame(columns=[f"Column{i}" for i in range(10)] + ["StudyInstanceUID"])
    with pytest.raises(DicomlabError) as caught:
        modality_mix(df, by="studies")
    message = str(caught.value)
    assert "modality_mix(by='studies') needs the columns Modality and StudyInstanceUID" in message
    assert "has no Modality (it has Column0, Column1," in message
    assert "Column7 and 3 more)" in message
    assert "every column." in message and "so does" not in message


def test_instances_need_sop_uid_or_instance_count():
    with pytest.raises(
        DicomlabError, match=r"\(or Modality and InstanceCount\), but .* has no SOPInstanceUID"
    ):
        modality_mix(pd.DataFrame({"Modality": ["CT"]}))


@pytest.mark.parametrize("plot", PLOTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "columns",
    [[], ["PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality",
          "StudyDate"]],
    ids=["no-columns", "query-columns"],
)  # fmt: skip
def test_empty_frames_give_a_figure_saying_no_rows(plot, columns):
    fig = plot(pd.DataFrame(columns=columns))
    assert type(fig).__name__ == "Figure"
    ax = fig.axes[0]
    assert texts(ax) == ["no rows"] and len(ax.patches) == 0
    assert ax.get_title().startswith(("Instances per", "Studies per"))


# --- axes, summary, notebook display -------------------------------------------------------


def test_draws_into_given_axes_and_returns_their_figure(rows):
    fig = Figure()
    left, right = fig.subfigures(1, 2)
    ax = right.add_subplot()
    assert modality_mix(rows, ax=ax) is fig
    assert widths(ax) == [2, 2, 1] and left.axes == []


def test_cohort_summary_skips_panels_it_cannot_draw_and_says_why():
    df = pd.DataFrame({"PatientID": ["p1", "p2", "p2"], "SeriesInstanceUID": ["1", "2", "3"]})
    fig = cohort_summary(df)
    assert tuple(fig.get_size_inches()) == (12.0, 7.0)
    modality, dates, series, patients = fig.axes
    assert texts(modality) == ["skipped: needs the columns Modality and StudyInstanceUID"]
    assert texts(dates) == [
        "skipped: needs the columns StudyInstanceUID and StudyDate "
        "(or StudyInstanceUID and StudyDateTime)"
    ]
    assert widths(series) == [1, 1, 1] and bars(patients) == {"p2": 2, "p1": 1}


def test_cohort_summary_of_no_rows():
    fig = cohort_summary(pd.DataFrame())
    assert [texts(ax) for ax in fig.axes] == [["no rows"]] * 4


def test_figures_show_as_png_in_ipython(monkeypatch, rows):
    import IPython
    from IPython.core.formatters import DisplayFormatter

    class Shell:
        display_formatter = DisplayFormatter()

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    fig = modality_mix(rows)
    data, _ = Shell.display_formatter.format(fig)
    assert data["image/png"].startswith(b"\x89PNG")


def test_an_existing_figure_formatter_is_left_alone(monkeypatch, rows):
    import IPython
    from IPython.core.formatters import DisplayFormatter

    class Shell:
        display_formatter = DisplayFormatter()

    svg = Shell.display_formatter.formatters["image/svg+xml"]
    svg.for_type(Figure, lambda fig: "<svg/>")
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell)
    data, _ = Shell.display_formatter.format(modality_mix(rows))
    assert "image/png" not in data and data["image/svg+xml"] == "<svg/>"


def test_import_loads_neither_matplotlib_nor_pandas():
    code = (
        "import sys, json, dicomlab.notebook.plots\n"
        "print(json.dumps([m for m in ('matplotlib', 'pandas', 'numpy') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


# --- the sample cohort ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "uid"),
    [
        ("instances", "SOPInstanceUID"),
        ("series", "SeriesInstanceUID"),
        ("studies", "StudyInstanceUID"),
        ("patients", "PatientID"),
    ],
)
def test_sample_modality_mix_matches_pandas(sample, by, uid):
    _, df = sample
    expected = df.groupby("Modality")[uid].nunique().to_dict()
    assert bars(modality_mix(df, by=by).axes[0]) == expected
    if by == "studies":
        assert expected == {"CR": 1, "CT": 3, "MR": 3}


def test_sample_studies_over_time_matches_pandas(sample):
    lab, df = sample
    first = df.groupby("StudyInstanceUID")["StudyDate"].min()
    expected = pd.Series([d.year for d in first]).value_counts().to_dict()
    assert expected == {1995: 1, 2001: 2, 2003: 3, 2020: 1}
    for source in (df, lab.query("latest_studies", limit=20)):
        drawn = years(studies_over_time(source).axes[0])
        assert list(drawn) == list(range(1995, 2021))
        assert {year: n for year, n in drawn.items() if n} == expected


def test_sample_instances_per_patient_from_rows_and_aggregates_agree(sample):
    lab, df = sample
    expected = df["PatientID"].value_counts().to_dict()
    assert sum(expected.values()) == 81 and len(expected) == 3
    for source in (df, lab.query("latest_studies", limit=20), lab.query("series_per_patient")):
        ax = instances_per_patient(source).axes[0]
        assert bars(ax) == expected
        assert ax.get_title() == "Instances per patient\n3 patients, 81 instances"


def test_sample_instances_per_series_matches_pandas(sample):
    _, df = sample
    expected = df["SeriesInstanceUID"].value_counts()
    ax = instances_per_series(df).axes[0]
    assert widths(ax) == sorted(expected, reverse=True)
    assert ax.get_title() == "Instances per series\n14 series, 81 instances"
    labels = ylabels(ax)
    assert sum("FAST LOCALIZER · …" in label for label in labels) == 4
    assert labels[0] == "1.2.826.0.1.3…30064330327590"  # 50 CT images without a description


def test_sample_cohort_summary_draws_every_panel(sample):
    _, df = sample
    fig = rendered(cohort_summary(df))
    modality, dates, series, patients = fig.axes
    assert bars(modality) == {"CT": 3, "MR": 3, "CR": 1}
    assert sum(heights(dates)) == 7 and sum(widths(series)) == 81 == sum(widths(patients))
    assert not any(texts(ax) == ["no rows"] for ax in fig.axes)


def test_sample_worklist_summary_draws_what_its_columns_allow(sample):
    lab, _ = sample
    fig = cohort_summary(lab.query("latest_studies", limit=20))
    modality, dates, series, patients = fig.axes
    assert texts(modality) == ["skipped: needs the columns Modality and StudyInstanceUID"]
    assert texts(series) == ["skipped: needs the column SeriesInstanceUID"]
    assert sum(heights(dates)) == 7 and sum(widths(patients)) == 81
