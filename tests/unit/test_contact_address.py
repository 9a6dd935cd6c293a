"""What staff type as a contact (``/ticket --for``): addresses, names with addresses, phone numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.contacts.address import ContactAddress, parse
from bot.contacts.store import person_key
from bot.core.errors import Refused


@pytest.mark.parametrize(("text", "expected"), [
    ("maria@example.com", ContactAddress(email="maria@example.com")),
    ("Maria.Huber@Example.COM", ContactAddress(email="maria.huber@example.com")),
    ("Maria Huber <maria@example.com>", ContactAddress(name="Maria Huber", email="maria@example.com")),
    ('"Huber, Maria" <maria@example.com>', ContactAddress(name="Huber, Maria", email="maria@example.com")),
    ("+49 30 1234567", ContactAddress(phone="+49301234567")),
    ("0049 (30) 123-45-67", ContactAddress(phone="+49301234567")),
    ("030/1234567", ContactAddress(phone="0301234567")),
    ("Maria Huber +49 30 1234567", ContactAddress(name="Maria Huber", phone="+49301234567")),
    ("Мария 8 (495) 123-45-67", ContactAddress(name="Мария", phone="84951234567")),
])
def test_contacts_that_are_taken(text: str, expected: ContactAddress) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize("text", [
    "", "maria", "maria@", "@example.com", "a@b", "maria@example..com", ".maria@example.com", "ma..ria@example.com",
    "maria @example.com", "x@y.de, z@y.de", "Maria <maria@example.com", "call maria@example.com please",
    "+49", "1234", "+49 30 1234567 8901234567", "12-34", "(030 1234567", "+", "Maria Huber",
    "maria@" + "x" * 250 + ".de",
])
def test_what_is_no_contact_is_refused_with_the_text(text: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(text)
    assert refused.value.key == "contact.invalid"


@given(st.text(max_size=80))
def test_anything_typed_is_a_contact_or_a_refusal(text: str) -> None:
    try:
        contact = parse(text)
    except Refused as refused:
        assert refused.key == "contact.invalid"
        return
    assert contact.email or contact.phone
    assert len(person_key(contact)) <= 120
