"""Masking of personal information (PIPL): phone numbers and names are shown in
full only to the resident and to the staff handling their case."""

from __future__ import annotations

import re
import unicodedata


def mask_phone(phone: str | None) -> str | None:
    """``13812345678`` → ``138****5678``; short numbers keep only the last two digits."""
    if not phone:
        return None
    digits = phone.strip()
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(0, len(digits) - 2) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """``张三`` → ``张*``, ``欧阳娜娜`` → ``欧**娜``."""
    if not name:
        return None
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# Digits as residents type them, ASCII or full-width (``\d`` is Unicode-aware);
# a space or a dash may split the groups. The look-arounds keep longer digit
# runs (ID card, order and bank numbers) out. Every quantifier is bounded and
# nothing nests, so the work is linear in the length of the text.
_SEP = r"[ \-－]?"
# A mobile, alone, with the country code, or with the long-distance 0 in front.
_MOBILE = re.compile(
    rf"(?<!\d)((?:[+＋]?[8８][6６]{_SEP}|[0０])?[1１]\d{{2}})({_SEP}\d{{4}}{_SEP})(\d{{4}})(?!\d)"
)
# A landline as it is dialled from another city: the area code is 010 or
# 02x followed by an 8-digit local number, or 0 and three digits from 3-9
# followed by 7 or 8 digits; a local number never starts with 0. So an order
# number that merely starts with 0 (``012345678901``) is not one.
_LANDLINE = re.compile(
    rf"(?<!\d)([(（]?[0０](?:"
    rf"(?:[1１][0０]|[2２]\d)[)）]?{_SEP}(?=\d{{8}}(?!\d))"
    rf"|[3-9３-９]\d{{2}}[)）]?{_SEP}"
    r"))([1-9１-９]\d{4,5})(\d{2})(?!\d)"
)


def _mask_mobile(match: re.Match[str]) -> str:
    head, middle, tail = match.groups()
    if not 3 <= unicodedata.digit(head[-2]) <= 9:  # 1[3-9]: else not a mainland mobile
        return match.group(0)
    return f"{head}****{tail}"


def _mask_landline(match: re.Match[str]) -> str:
    area, hidden, tail = match.groups()
    return f"{area}{'*' * len(hidden)}{tail}"


# A resident identity card number (GB 11643): region, birth date, sequence,
# check character. Shown as ID numbers usually are: the first six and the
# last four, the birth date and sequence hidden.
_ID_CARD = re.compile(
    r"(?<![0-9０-９])([0-9]{6})((?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"([0-9]{4}|[0-9]{3}[Xx])(?![0-9０-９Xx])"
)


def _mask_id_card(match: re.Match[str]) -> str:
    head, _birth, tail = match.groups()
    return f"{head}********{tail}"


def mask_numbers_in_text(text: str) -> str:
    """Personal numbers a resident wrote into free text, masked: identity card
    numbers (``410882199001011234`` → ``410882********1234``), and phone
    numbers as ``mask_phone`` masks one: mainland mobiles (``13987654321``,
    ``139 8765 4321``, ``+86 139-8765-4321`` → ``139****4321``, with the prefix
    ``+86`` or ``0`` kept) and landlines with their area code (``0391-2345678``
    → ``0391-*****78``, ``010 62345678`` → ``010 ******78``). Other numbers,
    even when they start with 0 (order and case numbers), are left as written;
    so are names: they cannot be told from other words reliably."""
    text = _ID_CARD.sub(_mask_id_card, text)
    return _LANDLINE.sub(_mask_landline, _MOBILE.sub(_mask_mobile, text))
