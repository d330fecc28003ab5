"""The bad-input catalogue for UIDs: one row per malformed UID.

Each is refused by ``validate_uid`` and by a store call naming it, before any
request reaches the server (see :mod:`tests.support.catalogue`).
"""

from __future__ import annotations

from typing import Any

import pytest

from dicomlab.core.uids import validate_uid
from dicomlab.errors import InvalidIdentifierError
from tests.support.catalogue import assert_names
from tests.support.scripted import Script, scripted

KEYWORDS = {
    "study": "StudyInstanceUID",
    "series": "SeriesInstanceUID",
    "instance": "SOPInstanceUID",
}


@pytest.mark.parametrize(
    ("value", "position"),
    [
        pytest.param("", "study", id="empty"),
        pytest.param("1..2", "study", id="empty-component"),
        pytest.param(".1.2", "series", id="leading-dot"),
        pytest.param("1.2.", "instance", id="trailing-dot"),
        pytest.param("1.02.3", "series", id="leading-zero"),
        pytest.param("1.2.3 ", "study", id="trailing-space"),
        pytest.param("1.2.a", "instance", id="letter"),
        pytest.param("1." * 32 + "1", "series", id="65-chars"),
        pytest.param("１.２", "study", id="full-width-digits"),
        pytest.param("1.2\n", "instance", id="trailing-newline"),
        pytest.param("-1.2", "series", id="minus-sign"),
        pytest.param("1.2/../3", "study", id="path-traversal"),
        pytest.param("1.2\udcff", "instance", id="lone-surrogate"),
        pytest.param(None, "study", id="none"),
        pytest.param(123, "study", id="int"),
    ],
)
def test_bad_uid(scripted_server, value, position):
    with pytest.raises(InvalidIdentifierError) as info:
        validate_uid(value)
    assert type(info.value) is InvalidIdentifierError
    assert_names(info.value, value)
    assert info.value.value == value
    # A delete naming it is refused before any request reaches the server.
    store = scripted(scripted_server, script := Script())
    uids: dict[str, Any] = {"study": "1.2.3", "series": "1.2.3.4", "instance": "1.2.3.4.5"}
    uids[position] = value
    with pytest.raises(InvalidIdentifierError) as info:
        store.delete(uids["study"], uids["series"], uids["instance"])
    assert type(info.value) is InvalidIdentifierError
    assert f"{KEYWORDS[position]} {value!r}" in str(info.value)
    assert script.requests == []
