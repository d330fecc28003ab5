import pandas as pd
import pytest

from dicomlab.core.filterfile import FilterFile
from dicomlab.errors import FilterFileError

ST, SE, SOP = "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"


def frame(rows):
    return pd.DataFrame(rows, columns=[ST, SE, SOP])


def test_levels_from_the_same_rows():
    df = frame(
        [("1.1", "1.1.1", "1.1.1.1"), ("1.1", "1.1.1", "1.1.1.2"), ("1.2", "1.2.1", "1.2.1.1")]
    )
    assert FilterFile.from_dataframe(df, level="study").lines == ("/studies/1.1", "/studies/1.2")
    assert FilterFile.from_dataframe(df, level="series").lines == (
        "/studies/1.1/series/1.1.1",
        "/studies/1.2/series/1.2.1",
    )
    assert FilterFile.from_dataframe(df).lines == (
        "/studies/1.1/series/1.1.1/instances/1.1.1.1",
        "/studies/1.1/series/1.1.1/instances/1.1.1.2",
        "/studies/1.2/series/1.2.1/instances/1.2.1.1",
    )


def test_finest_level_follows_columns():
    df = pd.DataFrame({ST: ["1.1"], SE: ["1.1.1"]})
    assert FilterFile.from_dataframe(df).level == "series"


def test_duplicates_removed_and_order_stable():
    df = frame([("1.3", None, None), ("1.1", None, None), ("1.3", None, None), ("1.2", None, None)])
    assert FilterFile.from_dataframe(df).lines == ("/studies/1.3", "/studies/1.1", "/studies/1.2")


def test_broader_lines_cover_finer_ones():
    df = frame(
        [
            ("1.1", "1.1.1", "1.1.1.1"),  # covered by the study line below
            ("1.2", "1.2.1", "1.2.1.1"),  # covered by the series line below
            ("1.2", "1.2.2", "1.2.2.1"),  # not covered
            ("1.1", None, None),
            ("1.2", "1.2.1", None),
        ]
    )
    ff = FilterFile.from_dataframe(df)
    assert ff.lines == (
        "/studies/1.2/series/1.2.2/instances/1.2.2.1",
        "/studies/1.1",
        "/studies/1.2/series/1.2.1",
    )
    assert ff.level == "mixed"


def test_similar_prefix_is_not_coverage():
    # study 1.1 must not cover study 1.10
    df = frame([("1.1", None, None), ("1.10", "1.10.1", None)])
    assert len(FilterFile.from_dataframe(df)) == 2


def test_invalid_rows_are_named():
    df = frame([("1.1", "1.1.1", "1.1.1.1"), ("1.01", "1.1.2", "x"), (None, "1.2", None)])
    df.index = [10, 20, 30]
    with pytest.raises(FilterFileError) as info:
        FilterFile.from_dataframe(df)
    message = str(info.value)
    assert "row 20" in message and "'1.01'" in message and "'x'" in message
    assert "row 30" in message and "StudyInstanceUID is missing" in message
    assert {label for label, _ in info.value.problems} == {20, 30}
    assert "row 10" not in message


def test_missing_column_named():
    with pytest.raises(FilterFileError, match="SOPInstanceUID"):
        FilterFile.from_dataframe(pd.DataFrame({ST: ["1.1"], SE: ["1.1.1"]}), level="instance")
    with pytest.raises(FilterFileError, match="no StudyInstanceUID"):
        FilterFile.from_dataframe(pd.DataFrame({"PatientID": ["1"]}))
    with pytest.raises(FilterFileError, match="'patient'"):
        FilterFile.from_dataframe(pd.DataFrame({ST: ["1.1"]}), level="patient")


def test_non_string_uid_rejected():
    with pytest.raises(FilterFileError, match="row 0"):
        FilterFile.from_dataframe(pd.DataFrame({ST: [12]}))


def test_text_round_trip_and_line_ends():
    df = frame([("1.1", "1.1.1", None), ("1.2", None, None)])
    ff = FilterFile.from_dataframe(df)
    text = ff.to_text()
    assert text == "/studies/1.1/series/1.1.1\n/studies/1.2\n"
    assert FilterFile.parse(text) == ff
    assert FilterFile.parse(text.replace("\n", "\r\n") + "\n\n") == ff
    assert FilterFile(ff.lines) == ff


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("/studies/1.1\n/study/1.2\n", "line 2"),
        ("/studies/1.1/\n", "line 1"),
        ("studies/1.1\n", "line 1"),
        ("/dicomWeb/studies/1.1\n", "line 1"),
        ("/studies/1.1/instances/1.1.1\n", "line 1"),
        ("\n\n/studies/1.a\n", "line 3"),
        ("/studies/1.1/series/1.1.1/instances/1.1.1.1/frames/1\n", "line 1"),
        ("/studies/1.١\n", "line 1"),
    ],
)
def test_parse_rejects_and_names_line(text, line):
    with pytest.raises(FilterFileError) as info:
        FilterFile.parse(text)
    assert line in str(info.value)


def test_parse_collapses_like_from_dataframe():
    text = "/studies/1.1/series/1.1.1\n/studies/1.1\n/studies/1.1\n"
    assert FilterFile.parse(text).lines == ("/studies/1.1",)


def test_reprs_and_content_name():
    ff = FilterFile.from_uids([("1.1",), ("1.2",), ("1.3",)])
    assert "3 lines" in repr(ff) and "1 more" in repr(ff)
    assert "<code>/studies/1.1</code>" in ff._repr_html_().replace("<wbr>", "")
    assert ff.content_name() == FilterFile.from_uids([("1.1",), ("1.2",), ("1.3",)]).content_name()
    assert ff.content_name() != FilterFile.from_uids([("1.1",)]).content_name()
    assert FilterFile().level == "empty" and FilterFile().to_text() == ""


def test_arrow_and_pandas_paths_agree_on_random_cohorts():
    import numpy as np
    import pandas as pd

    from dicomlab.core.filterlines import as_arrow_strings, collapse_arrow, collapse_pandas

    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 300))
        study = rng.integers(1, 6, n)
        series = rng.integers(1, 4, n)
        frame = pd.DataFrame(
            {
                "StudyInstanceUID": [f"1.2.{s}" for s in study],
                "SeriesInstanceUID": [f"1.2.{s}.{e}" for s, e in zip(study, series, strict=True)],
                "SOPInstanceUID": [
                    f"1.2.{s}.{e}.{i}"
                    for s, e, i in zip(study, series, rng.integers(1, 40, n), strict=True)
                ],
            },
            dtype=object,
        )
        drop_series = rng.random(n) < 0.05
        frame.loc[drop_series, ["SeriesInstanceUID", "SOPInstanceUID"]] = None
        drop_instance = rng.random(n) < 0.1
        frame.loc[drop_instance, "SOPInstanceUID"] = None
        columns = [frame[c] for c in frame.columns]
        arrow = collapse_arrow(as_arrow_strings(columns), permissive=False)
        assert arrow == collapse_pandas(columns, labels=frame.index, permissive=False)
