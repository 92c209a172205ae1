"""The validators shared by the JSON API and the HTML form."""
import pytest
from email_validator import EmailNotValidError, validate_email

from moderation.schemas import email_address

ADDRESSES = [
    "budi@example.co.id", "o'brien@mail.ie", "user+tag@sub.domain.travel", "a@123.com", "x@xn--80ak6aa92e.com",
    "a..b@x.com", ".a@x.com", "a.@x.com", "a@x", "a@-x.com", "a@x-.com", "a@x.test", "a@localhost", "a b@x.com",
    "a@x..com", "a@x.123", "a@x.c", "ani@ｅｘａｍｐｌｅ.com", "anî@contoh.id", "a@" + "b" * 64 + ".com", "@x.com", "a@",
    "a@x.onion", "\"quoted\"@x.com", "a@[127.0.0.1]",
]


def accepted_by_email_validator(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


@pytest.mark.parametrize("address", ADDRESSES)
def test_fast_email_check_agrees_with_email_validator(address):
    try:
        email_address(address)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == accepted_by_email_validator(address)
