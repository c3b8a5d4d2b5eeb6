"""NHS number Modulus 11 validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quill.patients.nhs_number import check_digit, is_valid_nhs_number


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "4010232137", "9990000018"])
def test_valid_numbers(number: str) -> None:
    assert is_valid_nhs_number(number)


@pytest.mark.parametrize("number", ["9434765918", "4010232138", "9990000017"])
def test_wrong_check_digit(number: str) -> None:
    assert not is_valid_nhs_number(number)


def test_number_whose_check_digit_would_be_ten() -> None:
    # 123456789: 10+18+24+28+30+30+28+24+18 = 210; 210 % 11 = 1; 11 - 1 = 10 -> no valid digit.
    assert check_digit("123456789") is None
    assert not any(is_valid_nhs_number(f"123456789{d}") for d in range(10))


@pytest.mark.parametrize("number", ["", "943476591", "94347659190", "12345"])
def test_wrong_lengths(number: str) -> None:
    assert not is_valid_nhs_number(number)


FULLWIDTH_DIGITS = "".join(chr(0xFF10 + int(d)) for d in "9434765919")


@pytest.mark.parametrize("number", ["94347659I9", "abcdefghij", "943-476-59", FULLWIDTH_DIGITS])
def test_non_digits(number: str) -> None:
    assert not is_valid_nhs_number(number)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_exactly_one_check_digit_or_none(first_nine: str) -> None:
    valid = [d for d in range(10) if is_valid_nhs_number(first_nine + str(d))]
    expected = check_digit(first_nine)
    assert valid == ([] if expected is None else [expected])
