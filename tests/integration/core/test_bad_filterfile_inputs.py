"""The bad-input catalogue for filter-file text: what is collapsed, what is refused.

A refused text names the bad line and its number, and nothing reaches the
bucket (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

import pandas as pd
import pytest

from dicomlab.core.filterfile import FilterFile
from dicomlab.errors import FilterFileError
from tests.support.catalogue import snapshot

LONG_UID = "1." * 32 + "1"  # 65 characters


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param(
            "/studies/1.2\n\n\n/studies/1.3\n", ("/studies/1.2", "/studies/1.3"), id="blank"
        ),
        pytest.param("   \n\t\n", (), id="only-whitespace"),
        pytest.param(
            "/studies/1.2\r\n/studies/1.3\r\n", ("/studies/1.2", "/studies/1.3"), id="crlf"
        ),
        pytest.param(
            "/studies/1.2\n/studies/1.3", ("/studies/1.2", "/studies/1.3"), id="no-final-eol"
        ),
        pytest.param("/studies/1.2\n/studies/1.2\n", ("/studies/1.2",), id="duplicate"),
        pytest.param(
            "/studies/1.2/series/1.2.3\n/studies/1.2\n", ("/studies/1.2",), id="study-covers-series"
        ),
        pytest.param(
            "/studies/1.2/series/1.2.3/instances/1.2.3.4\n/studies/1.2/series/1.2.3\n",
            ("/studies/1.2/series/1.2.3",),
            id="series-covers-instance",
        ),
        pytest.param(
            "/studies/1.1\n/studies/1.10/series/1.10.1\n",
            ("/studies/1.1", "/studies/1.10/series/1.10.1"),
            id="similar-prefix-is-no-cover",
        ),
    ],
)
def test_allowed_filter_text_is_collapsed(cohort_bucket, text, lines):
    ff = FilterFile.parse(text)
    assert ff.lines == lines
    assert FilterFile.parse(ff.to_text()) == ff
    cohort_bucket.upload_bytes(ff.to_bytes(), "parsed.txt")
    assert cohort_bucket.download_bytes("parsed.txt").decode() == ff.to_text()


@pytest.mark.parametrize(
    ("text", "bad", "line"),
    [
        pytest.param("/study/1.2", "/study/1.2", 1, id="singular-prefix"),
        pytest.param("studies/1.2", "studies/1.2", 1, id="no-leading-slash"),
        pytest.param("/STUDIES/1.2", "/STUDIES/1.2", 1, id="uppercase-prefix"),
        pytest.param("/dicomWeb/studies/1.2", "/dicomWeb/studies/1.2", 1, id="dicomweb-prefix"),
        pytest.param("gs://b/studies/1.2", "gs://b/studies/1.2", 1, id="uri-prefix"),
        pytest.param("/studies/1.2/", "/studies/1.2/", 1, id="trailing-slash"),
        pytest.param("/studies/1.2/series/", "/studies/1.2/series/", 1, id="empty-series"),
        pytest.param(
            "/studies/1.2/instances/1.2.3", "/studies/1.2/instances/1.2.3", 1, id="skips-series"
        ),
        pytest.param(" /studies/1.2", " /studies/1.2", 1, id="leading-space"),
        pytest.param("\ufeff/studies/1.2\n", "\ufeff/studies/1.2", 1, id="byte-order-mark"),
        pytest.param("/studies/1.2\n/studies/1.3\n/study/1.4\n", "/study/1.4", 3, id="line-3"),
        pytest.param("/studies/１.２", "１.２", 1, id="non-ascii-digits"),
        pytest.param("/studies/1.2é", "1.2é", 1, id="non-ascii-letter"),
        pytest.param("/studies/1.02", "1.02", 1, id="leading-zero"),
        pytest.param(f"/studies/{LONG_UID}", LONG_UID, 1, id="65-char-uid"),
        pytest.param("/studies/1.2 ", "1.2 ", 1, id="trailing-space"),
        pytest.param("/studies/1.2\r\r\n", "1.2\r", 1, id="double-cr"),
        pytest.param(
            "/studies/1.2\udcff",
            "1.2\udcff",
            1,
            id="lone-surrogate",
        ),
        pytest.param("/studies/1.2\n/studies/1.2/series/1.02\n", "1.02", 2, id="bad-uid-line-2"),
    ],
)
def test_bad_filter_text_uploads_nothing(cohort_bucket, tmp_path, text, bad, line):
    before = snapshot(tmp_path)
    with pytest.raises(FilterFileError) as info:
        cohort_bucket.upload_bytes(FilterFile.parse(text).to_bytes(), "cohort-2.txt")
    assert type(info.value) is FilterFileError
    assert repr(bad) in str(info.value)
    assert [number for number, _ in info.value.problems] == [line]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("lines", "shown"),
    [
        pytest.param("/studies/1.2", "'/studies/1.2'", id="one-string"),
        pytest.param(b"/studies/1.2", "b'/studies/1.2'", id="bytes"),
        pytest.param([123], "123", id="int-line"),
        pytest.param(["/studies/1.2", None], "None", id="none-line"),
        pytest.param(7, "7", id="not-iterable"),
    ],
)
def test_filter_file_from_lines_of_the_wrong_type(lines, shown):
    with pytest.raises(FilterFileError) as info:
        FilterFile(lines)
    assert type(info.value) is FilterFileError
    assert shown in str(info.value)


def test_filter_file_from_a_dataframe_with_a_column_twice():

    df = pd.DataFrame(
        [["1.2", "1.2", "1.2.3"]], columns=["StudyInstanceUID", "StudyInstanceUID", "X"]
    )
    with pytest.raises(FilterFileError) as info:
        FilterFile.from_dataframe(df)
    assert "'StudyInstanceUID'" in str(info.value)
