"""Generalised LDAP filter shapes for GROUP BY, and the (attribute, match type) components index advice needs.

`(&(uid=bob)(objectClass=person))` and `(&(objectclass=Person)(UID=alice))` have one shape,
`(&(objectclass=?)(uid=?))`: values become `?`, presence stays `=*`, substring keeps the
position of its `*`s (`(cn=?*)`, `(cn=*?*)`), attribute names are lower-cased, and the
operands of `&` and `|` are sorted so that operand order does not split a group.
The parser follows RFC 4515 as 389 DS logs it: values are escaped `\\XX` but `"` is not, and
a line cut by the server ends in `...`; anything it cannot read yields a best-effort shape.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

MAX_SHAPE_LENGTH = 1024


class FilterInfo(NamedTuple):
    shape: str
    # (attribute, match type) pairs: eq, pres, sub, ge, le, approx, ext
    components: tuple[tuple[str, str], ...]
    valid: bool


class _Parser:
    __slots__ = ("components", "pos", "s")

    def __init__(self, s: str) -> None:
        self.s = s
        self.pos = 0
        self.components: list[tuple[str, str]] = []

    def parse(self) -> str:
        s = self.s
        if self.pos >= len(s) or s[self.pos] != "(":
            # 389 DS accepts an unparenthesised item, e.g. `uid=bob`
            shape = self.item(len(s))
            self.pos = len(s)
            return shape
        self.pos += 1
        if self.pos >= len(s):
            raise ValueError("truncated")
        c = s[self.pos]
        if c in "&|":
            self.pos += 1
            parts = []
            while self.pos < len(s) and s[self.pos] == "(":
                parts.append(self.parse())
            self.expect_close()
            parts.sort()
            return f"({c}{''.join(parts)})"
        if c == "!":
            self.pos += 1
            inner = self.parse()
            self.expect_close()
            return f"(!{inner})"
        end = self.find_item_end()
        shape = self.item(end)
        self.pos = end
        self.expect_close()
        return shape

    def expect_close(self) -> None:
        if self.pos < len(self.s) and self.s[self.pos] == ")":
            self.pos += 1
        else:
            raise ValueError("missing )")

    def find_item_end(self) -> int:
        # values escape `(` and `)` as \28 \29, so the first `)` ends the item
        end = self.s.find(")", self.pos)
        if end < 0:
            raise ValueError("missing )")
        return end

    def item(self, end: int) -> str:
        text = self.s[self.pos:end]
        eq = text.find("=")
        if eq <= 0:
            raise ValueError("no operator")
        op_char = text[eq - 1]
        value = text[eq + 1:]
        if op_char in "<>~":
            attr = text[:eq - 1].strip().lower()
            kind = {"<": "le", ">": "ge", "~": "approx"}[op_char]
            self.components.append((attr, kind))
            return f"({attr}{op_char}=?)"
        if op_char == ":":  # extensible: attr:dn:rule:=value, :rule:=value
            desc = text[:eq - 1].lower()
            attr = desc.split(":", 1)[0]
            self.components.append((attr or desc, "ext"))
            return f"({desc}:=?)"
        attr = text[:eq].strip().lower()
        if value == "*":
            self.components.append((attr, "pres"))
            return f"({attr}=*)"
        if "*" in value:
            self.components.append((attr, "sub"))
            chunks = value.split("*")
            return "(" + attr + "=" + "*".join("?" if c else "" for c in chunks) + ")"
        self.components.append((attr, "eq"))
        return f"({attr}=?)"


@lru_cache(maxsize=65536)
def filter_info(filter_text: str) -> FilterInfo:
    """Shape and components of a logged filter (cached: real traffic repeats a few shapes)."""
    text = filter_text.strip()
    if text.endswith("..."):  # cut by the server at its line limit
        text = text[:-3]
        truncated = True
    else:
        truncated = False
    parser = _Parser(text)
    try:
        shape = parser.parse()
        valid = not truncated and parser.pos == len(text)
    except (ValueError, IndexError):
        shape = _fallback_shape(text)
        valid = False
    if truncated:
        shape += "..."
    if len(shape) > MAX_SHAPE_LENGTH:
        shape = shape[:MAX_SHAPE_LENGTH - 3] + "..."
    return FilterInfo(shape, tuple(dict.fromkeys(parser.components)), valid)


def _fallback_shape(text: str) -> str:
    """Mask values of an unparsable filter, keeping its punctuation and attribute names."""
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "=":
            out.append("=")
            j = i + 1
            while j < n and text[j] != ")":
                j += 1
            value = text[i + 1:j]
            out.append("*" if value == "*" else "?")
            i = j
            continue
        out.append(c.lower())
        i += 1
    return "".join(out)


def filter_shape(filter_text: str) -> str:
    return filter_info(filter_text).shape
