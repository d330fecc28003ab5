import pytest

from dicomlab.core.uids import is_valid_uid, uid_problem, validate_uid
from dicomlab.errors import InvalidIdentifierError


@pytest.mark.parametrize("uid", ["0", "1.2", "1.2.840.10008.1.2.1", "1." + "2" * 62, "1.0.3"])
def test_valid(uid):
    assert is_valid_uid(uid)
    assert validate_uid(uid) == uid


@pytest.mark.parametrize(
    ("uid", "reason"),
    [
        ("", "is empty"),
        ("1..2", "empty component"),
        (".1.2", "empty component"),
        ("1.2.", "empty component"),
        ("1.02", "leading zero"),
        ("1.2a", "'a'"),
        ("1.2 ", "' '"),
        ("1." + "2" * 63, "65 characters"),
        (123, "is a int"),
        (None, "is a NoneType"),
        ("1.2'; DROP TABLE x", "characters other than digits"),
    ],
)
def test_invalid_names_the_problem(uid, reason):
    assert not is_valid_uid(uid)
    assert reason in uid_problem(uid)
    with pytest.raises(InvalidIdentifierError) as info:
        validate_uid(uid, what="SOPInstanceUID")
    assert repr(uid) in str(info.value)
    assert info.value.value == uid


def test_permissive_allows_leading_zeros_only():
    assert is_valid_uid("1.02.003", permissive=True)
    assert not is_valid_uid("1..2", permissive=True)
    assert not is_valid_uid("1.2x", permissive=True)
