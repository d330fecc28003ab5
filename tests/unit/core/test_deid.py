"""Keyed pseudonyms: consistent, reversible only with the key, intervals kept, valid UIDs."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import UID

from dicomlab.core.deid import (
    Pseudonymizer,
    action_for,
    may_show_pixels,
    patient_lookup,
    token_pattern,
)

KEY = b"0123456789abcdef0123456789abcdef"
uids = st.from_regex(r"[1-9][0-9]{0,5}(\.(0|[1-9][0-9]{0,8})){2,8}", fullmatch=True)
ids = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=4, max_size=16)


@given(uids)
def test_uids_map_to_valid_consistent_uids(uid: str) -> None:
    first, second = Pseudonymizer(KEY), Pseudonymizer(KEY)
    shown = first.uid(uid)
    assert shown == second.uid(uid) != uid
    assert UID(shown).is_valid and len(shown) <= 64 and shown.startswith("2.25.")


@given(ids, ids)
def test_pseudonyms_are_consistent_and_distinct(a: str, b: str) -> None:
    p = Pseudonymizer(KEY)
    assert p.pseudonym(a) == p.pseudonym(a)
    assert (p.pseudonym(a) == p.pseudonym(b)) == (a == b)
    assert re.fullmatch(r"ID-[A-Z2-7]{12}", p.pseudonym(a))  # fits SH (16 characters)


@given(ids)
def test_only_the_key_maps_back(value: str) -> None:
    owner = Pseudonymizer(KEY)
    shown = owner.pseudonym(value)
    assert owner.real(shown) == value
    # The reverse map, saved and loaded again, is the owner's way back.
    assert Pseudonymizer(KEY, owner.reverse).real(shown) == value
    other = Pseudonymizer(b"another key of thirty-two bytes!")
    assert other.pseudonym(value) != shown and other.real(shown) == shown


@given(
    ids,
    st.dates(dt.date(1950, 1, 1), dt.date(2030, 1, 1)),
    st.dates(dt.date(1950, 1, 1), dt.date(2030, 1, 1)),
)
def test_dates_shift_per_patient_and_keep_intervals(
    patient: str, first: dt.date, second: dt.date
) -> None:
    p = Pseudonymizer(KEY)
    a, b = p.shift(first, patient), p.shift(second, patient)
    assert (b - a) == (second - first)
    assert a != first  # never a zero offset
    text = p.shift(first.strftime("%Y%m%d"), patient)
    assert text == a.strftime("%Y%m%d")
    stamp = p.shift(dt.datetime.combine(first, dt.time(13, 5)), patient)
    assert stamp.time() == dt.time(13, 5)  # the time of day is kept


def test_offsets_differ_between_patients() -> None:
    p = Pseudonymizer(KEY)
    assert len({p.offset(f"patient-{n}") for n in range(20)}) > 15


def test_the_key_is_never_shown_and_must_be_long() -> None:
    p = Pseudonymizer(KEY)
    p.pseudonym("77654033")
    assert KEY.decode() not in repr(p) and "77654033" not in repr(p)
    with pytest.raises(ValueError, match="16 bytes"):
        Pseudonymizer(b"short")


def test_scrub_replaces_whole_tokens_only() -> None:
    p = Pseudonymizer(KEY)
    uid = p.uid("1.2.3")
    pid = p.pseudonym("77654033")
    text = p.scrub("studies/1.2.3/series/1.2.3.4 cohort-77654033.2026.json x177654033")
    assert text == f"studies/{uid}/series/1.2.3.4 cohort-{pid}.2026.json x177654033"
    assert p.real(text) == "studies/1.2.3/series/1.2.3.4 cohort-77654033.2026.json x177654033"


def test_person_names_and_free_text() -> None:
    p = Pseudonymizer(KEY)
    name = {"Alphabetic": {"FamilyName": "Doe", "GivenName": "Archibald"}}
    shown = p.value("PatientName", name)
    assert shown.startswith("NAME-") and shown == p.value("PatientName", "Doe^Archibald")
    p.learn([("PatientName", name, None)])
    assert p.scrub("seen by Archibald Doe") == f"seen by {shown} {shown}"
    assert p.value("SeriesDescription", "Archibald's head") is None
    assert p.value("Modality", "CT") == "CT"


def test_table_names_its_actions() -> None:
    assert action_for("AccessionNumber") == "id"
    assert action_for("InstitutionName") == "name"
    assert action_for("FrameOfReferenceUID") == "uid"
    assert action_for("AcquisitionDateTime") == "date"
    assert action_for("SOPClassUID") is None  # what the object is, not whose


@pytest.mark.parametrize(
    ("burned_in", "modality", "shown"),
    [("YES", "CT", False), ("NO", "US", True), (None, "US", False), (None, "SC", False),
     (None, "CT", True), (None, None, False), ("", "XA", False), ("", "MR", True)],
)  # fmt: skip
def test_burned_in_rule(burned_in: object, modality: object, shown: bool) -> None:
    assert may_show_pixels(burned_in, modality) is shown


def test_patient_lookup_by_uid() -> None:
    find = patient_lookup([{"PatientID": "p", "SeriesInstanceUID": "1.2", "SOPInstanceUID": "3"}])
    assert find({"SOPInstanceUID": "3"}) == find({"SeriesInstanceUID": "1.2"}) == "p"
    assert find({"PatientID": "q", "SOPInstanceUID": "3"}) == "q"


def test_token_pattern_is_none_without_words() -> None:
    assert token_pattern([]) is None and token_pattern(["x"]) is None  # too short to search
