"""What ties seller accounts to one entity behind them: a business licence number, a contact or a payment account.

A licence number is a public registration and is kept as given (upper case, spaces removed). A contact (phone,
e-mail, messaging handle) or payment account is personal data: it is kept only as a keyed hash (HMAC-SHA-256 under
the workspace's own key, index.keys.identifier_key), so two listings naming one phone number link their accounts
while the store, its exports and the run folders never hold the number itself, and a hash cannot be looked up
without the workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import re

KINDS = ("licence", "contact", "payment")
"""Identifier kinds, strongest link first; each links the accounts that share a value."""
HASHED = ("contact", "payment")
"""Kinds kept only as keyed hashes."""
LISTING_COLUMNS = {"business_licence": "licence", "contact": "contact", "payment_account": "payment"}
"""Listing file column -> identifier kind."""
_SPACES = re.compile(r"[\s\-()./]+")


def normalised(kind: str, value: str) -> str:
    """One spelling per identifier: case and separators ignored; a Chinese mobile number with or without +86."""
    text = _SPACES.sub("", value.strip()).casefold()
    if kind == "contact" and re.fullmatch(r"(\+?0{0,2}86)?1\d{10}", text):
        text = text[-11:]
    return text.upper() if kind == "licence" else text


PLACEHOLDERS = frozenset({"na", "none", "null", "nil", "unknown", "无", "暂无", "没有", "不详", "未知", "空"})
"""What a listing writes where it has no contact or account: never an identifier, or every such shop would link."""
MIN_CHARACTERS = 5
"""Letters and digits an identifier has at least (a phone number 11, a licence 18): fewer is a placeholder or a
typo, and would link unrelated accounts."""


def meaningful(kind: str, value: str) -> bool:
    """Whether `value` can identify an account: not a placeholder, and at least MIN_CHARACTERS letters or digits."""
    text = normalised(kind, value)
    return text.casefold() not in PLACEHOLDERS and sum(c.isalnum() for c in text) >= MIN_CHARACTERS


def keyed(key: bytes, kind: str, value: str) -> str:
    """The stored form of an identifier: a licence as normalised, a contact or payment account as its keyed hash
    (hex, 32 characters: 128 bits, enough that two different accounts never collide)."""
    text = normalised(kind, value)
    if kind not in HASHED:
        return text
    return hmac.new(key, f"{kind}\0{text}".encode(), hashlib.sha256).hexdigest()[:32]
