"""Index advice for unindexed searches (notes=A / notes=U), one entry per attribute and match type.

An unindexed search does not always mean a missing index. The filter of each unindexed shape is
read as a tree and every component gets a verdict; only the first two lead to a `dsconf` command:

* `missing`: the attribute has no index in a default 389 DS 2.x backend (`cn=default indexes`
  of template-dse.ldif): add one;
* `type_missing`: the attribute is indexed by default, but not for this match type (e.g. `uid`
  has only eq, so `uid=abc*` needs sub): add the type;
* `futile`: an index would not make the search indexed, because another branch of the same OR
  (or the NOT around it) can never use one, e.g. `(|(description=*)(objectClass=*))`;
* `short_substring`: sub is indexed by default, but the logged filter's substring pieces are
  shorter than the index keys (3 characters by default: nsSubStrBegin/Middle/End);
* `scan_limit`: the type is indexed by default, but the candidate list exceeded
  nsslapd-idlistscanlimit (a value most entries share, like objectClass=person, or `(attr=*)`
  on an attribute most entries have): a narrower filter helps, another index does not. It is
  proven when the search was fully unindexed and only ANDs lead to the component (an AND is
  ALLIDS only when all its parts are), and assumed for objectClass equality and presence;
* `objectclass_pres`: `(objectClass=*)` matches every entry; never indexed, by design;
* `negated`: the component is under `!`; an index never makes a NOT filter indexed;
* `not_in_backend`: the searches went to cn=config, cn=monitor, cn=schema or the root DSE,
  which have no indexes.

The 389 DS evaluation this follows (back-ldbm filterindex.c): a component without a usable
index gives ALLIDS (every entry is a candidate); an AND intersects (ALLIDS only if all parts
are), an OR unions (ALLIDS if any part is), a NOT gives ALLIDS; ALLIDS at the top is notes=A.

The defaults are only defaults: `dsconf <instance> backend index list <backend>` shows the truth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# template-dse.ldif `cn=default indexes` of 389-ds-base 2.x (lower-cased attribute -> types)
DEFAULT_INDEXES: dict[str, frozenset[str]] = {
    "aci": frozenset({"pres"}),
    "cn": frozenset({"pres", "eq", "sub"}),
    "entryusn": frozenset({"eq"}),
    "givenname": frozenset({"pres", "eq", "sub"}),
    "gidnumber": frozenset({"eq"}),
    "mail": frozenset({"pres", "eq", "sub"}),
    "mailalternateaddress": frozenset({"eq"}),
    "mailhost": frozenset({"eq"}),
    "member": frozenset({"eq"}),
    "memberof": frozenset({"eq"}),
    "memberuid": frozenset({"eq"}),
    "nsuniqueid": frozenset({"eq"}),
    "nscertsubjectdn": frozenset({"eq"}),
    "numsubordinates": frozenset({"pres"}),
    "objectclass": frozenset({"eq"}),
    "owner": frozenset({"eq"}),
    "parentid": frozenset({"eq"}),
    "seealso": frozenset({"eq"}),
    "sn": frozenset({"pres", "eq", "sub"}),
    "telephonenumber": frozenset({"pres", "eq", "sub"}),
    "uid": frozenset({"eq"}),
    "uidnumber": frozenset({"eq"}),
    "ntuniqueid": frozenset({"eq"}),
    "ntuserdomainid": frozenset({"eq"}),
    "uniquemember": frozenset({"eq"}),
    "nstombstonecsn": frozenset({"eq"}),
    "targetuniqueid": frozenset({"eq"}),
}

SUBSTRING_KEY_LENGTH = 3  # nsSubStrBegin / nsSubStrMiddle / nsSubStrEnd default
NON_BACKEND_BASES = ("cn=config", "cn=monitor", "cn=schema")

# filter component match type -> dsconf --index-type (range and extensible filters use eq indexes)
INDEX_TYPE_FOR = {"eq": "eq", "sub": "sub", "pres": "pres", "approx": "approx", "ge": "eq", "le": "eq",
                  "ext": "eq"}

VERDICT_TEXT = {
    "missing": "no index by default: add one",
    "type_missing": "indexed by default, but not for this match type: add the type",
    "futile": "an index would not make these searches indexed: another branch of the same OR (or the "
              "NOT around it) can never use one",
    "short_substring": "sub is indexed by default, but the substrings searched are shorter than the "
                       "3-character index keys (nsSubStrBegin/Middle/End), so the index cannot be used",
    "scan_limit": "indexed by default: the candidate list exceeded nsslapd-idlistscanlimit (a value most "
                  "entries share); an index does not help, a more selective filter does",
    "objectclass_pres": "(objectClass=*) matches every entry and is never indexed; scope or narrow the "
                        "search instead",
    "negated": "a NOT (!) component is never indexed; make the rest of the AND selective",
    "not_in_backend": "searches of cn=config / cn=monitor / cn=schema / the root DSE: no database "
                      "indexes there",
}
ACTIONABLE = ("missing", "type_missing")
# verdict order when one attribute gets different verdicts in different shapes
_RANK = {v: i for i, v in enumerate(("missing", "type_missing", "futile", "short_substring", "scan_limit",
                                     "objectclass_pres", "negated", "not_in_backend"))}


@dataclass
class Leaf:
    attribute: str  # as written in the filter (case kept)
    kind: str  # eq, sub, pres, approx, ge, le, ext
    value: str
    rule: str | None = None
    negated: bool = False
    in_or: bool = False
    only_ands: bool = True  # every ancestor is an AND (or there is none)

    @property
    def key(self) -> tuple[str, str, str | None]:
        return self.attribute.lower(), self.kind, self.rule.lower() if self.rule else None


@dataclass
class Node:
    op: str  # "&", "|", "!", "leaf"
    children: list[Node] = field(default_factory=list)
    leaf: Leaf | None = None


class _FilterReader:
    """Tolerant reader of a logged filter or a filter shape into a tree (a truncated filter keeps
    what could be read)."""

    def __init__(self, text: str) -> None:
        self.s = text.strip()
        self.pos = 0

    def read(self) -> Node:
        s = self.s
        if not s.startswith("("):  # 389 DS accepts a bare item: `objectclass=vlvsearch`
            return self._leaf(s, False, False, True)
        try:
            return self._node(False, False, True)
        except IndexError:
            return Node("&")

    def _node(self, negated: bool, in_or: bool, only_ands: bool) -> Node:
        s = self.s
        if s[self.pos] != "(":
            raise IndexError
        self.pos += 1
        c = s[self.pos]
        if c in "&|":
            self.pos += 1
            node = Node(c)
            child_ands = only_ands and c == "&"
            while self.pos < len(s) and s[self.pos] == "(":
                try:
                    node.children.append(self._node(negated, in_or or c == "|", child_ands))
                except IndexError:
                    break
            self.pos += 1
            return node
        if c == "!":
            self.pos += 1
            node = Node("!", [self._node(True, in_or, False)])
            self.pos += 1
            return node
        end = s.find(")", self.pos)
        if end < 0:
            end = len(s)
        item = s[self.pos:end]
        self.pos = end + 1
        return self._leaf(item, negated, in_or, only_ands)

    @staticmethod
    def _leaf(item: str, negated: bool, in_or: bool, only_ands: bool) -> Node:
        for op, kind in (("~=", "approx"), (">=", "ge"), ("<=", "le"), (":=", "ext")):
            i = item.find(op)
            if i > 0:
                attr, value = item[:i], item[i + 2:]
                rule = None
                if kind == "ext":
                    parts = [p for p in attr.split(":") if p and p.lower() != "dn"]
                    attr = parts[0] if parts else ""
                    rule = parts[1] if len(parts) > 1 else None
                return Node("leaf", leaf=Leaf(attr, kind, value, rule, negated, in_or, only_ands)) if attr \
                    else Node("&")
        i = item.find("=")
        if i <= 0:
            return Node("&")
        attr, value = item[:i], item[i + 1:]
        kind = "pres" if value == "*" else ("sub" if "*" in value else "eq")
        return Node("leaf", leaf=Leaf(attr, kind, value, None, negated, in_or, only_ands))


def parse_filter(text: str) -> Node:
    return _FilterReader(text).read()


def leaves(node: Node) -> list[Leaf]:
    if node.leaf is not None:
        return [node.leaf]
    return [x for child in node.children for x in leaves(child)]


def filter_leaves(text: str) -> list[Leaf]:
    return leaves(parse_filter(text))


def substring_too_short(value: str, key_length: int = SUBSTRING_KEY_LENGTH) -> bool:
    """True when no piece of a substring assertion is long enough to make an index key."""
    pieces = [len(re.sub(r"\\[0-9a-fA-F]{2}", "x", p)) for p in value.split("*")]
    return not any(n >= key_length for n in pieces)


def backend_of(bases: list[str]) -> str | None:
    """The suffix the searches went to, guessed from their bases: the trailing dc=/o=/c= RDNs."""
    for base in bases:
        rdns = [r.strip() for r in base.split(",") if r.strip()]
        tail: list[str] = []
        for rdn in reversed(rdns):
            if rdn.split("=", 1)[0].strip().lower() in ("dc", "o", "c"):
                tail.append(rdn)
            else:
                break
        if tail:
            return ",".join(reversed(tail))
    return None


def is_non_backend(base: str) -> bool:
    b = base.strip().lower().replace(" ", "")
    return b == "" or any(b == x or b.endswith("," + x) for x in NON_BACKEND_BASES)


@dataclass
class ShapeEvidence:
    """What the report knows about one unindexed filter shape (input to `advise`)."""

    shape: str
    searches: int
    etime_total: float
    full: int = 0  # notes=A
    partial: int = 0  # notes=U
    example_filter: str | None = None
    bases: list[str] = field(default_factory=list)  # most searched first


@dataclass
class Advice:
    attribute: str
    match_type: str
    index_type: str
    verdict: str
    searches: int = 0
    etime_total: float = 0.0
    shapes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "match_type": self.match_type, "index_type": self.index_type,
                "matching_rule": self.rule, "verdict": self.verdict, "explanation": VERDICT_TEXT[self.verdict],
                "actionable": self.verdict in ACTIONABLE, "searches": self.searches,
                "etime_total": self.etime_total, "shapes": self.shapes, "notes": self.notes,
                "commands": self.commands}


# ---------------------------------------------------------------------- per shape
def _leaf_verdict(leaf: Leaf, example: list[Leaf], ev: ShapeEvidence, root_is_leaf: bool) -> str | None:
    """Verdict of one component, or None: indexed by default and not shown to be a cause."""
    attr = leaf.attribute.lower()
    if leaf.negated:
        return "negated"
    if attr == "objectclass" and leaf.kind == "pres":
        return "objectclass_pres"
    indexed = DEFAULT_INDEXES.get(attr)
    if leaf.kind == "ext":
        return "type_missing" if indexed else "missing"  # a matching-rule index is never a default
    if indexed is None:
        return "missing"
    if INDEX_TYPE_FOR.get(leaf.kind, "eq") not in indexed:
        return "type_missing"
    if leaf.kind == "sub" and any(x.key == leaf.key and substring_too_short(x.value) for x in example):
        return "short_substring"
    proven = root_is_leaf or (ev.full > 0 and leaf.only_ands)
    if proven or (attr == "objectclass" and leaf.kind == "eq"):
        return "scan_limit"
    return None


def _allids(node: Node, state: dict[int, bool]) -> bool:
    """Would 389 DS get ALLIDS for this node? `state[id(leaf)]` says it per component."""
    if node.leaf is not None:
        return state[id(node.leaf)]
    if node.op == "!":
        return True
    results = [_allids(child, state) for child in node.children]
    if not results:
        return True
    return all(results) if node.op == "&" else any(results)


def _ancestors(node: Node, target: Leaf, path: list[Node]) -> list[Node] | None:
    if node.leaf is target:
        return path
    for child in node.children:
        found = _ancestors(child, target, [*path, node])
        if found is not None:
            return found
    return None


def _shape_verdicts(ev: ShapeEvidence) -> list[tuple[Leaf, str, list[str]]]:
    """(component, verdict, note) for every component of one unindexed shape worth reporting."""
    root = parse_filter(ev.shape)
    comps = leaves(root)
    if ev.bases and all(is_non_backend(b) for b in ev.bases):
        return [(leaf, "not_in_backend", []) for leaf in comps]
    example = filter_leaves(ev.example_filter) if ev.example_filter else []
    verdicts = {id(leaf): _leaf_verdict(leaf, example, ev, root.leaf is leaf) for leaf in comps}
    # without an index: ALLIDS for everything with a verdict; indexed components are selective
    base_state = {id(leaf): verdicts[id(leaf)] is not None for leaf in comps}
    fixed_all = dict(base_state)
    for leaf in comps:
        if verdicts[id(leaf)] in ACTIONABLE:
            fixed_all[id(leaf)] = False
    out: list[tuple[Leaf, str, list[str]]] = []
    for leaf in comps:
        verdict = verdicts[id(leaf)]
        if verdict is None:
            continue
        notes: list[str] = []
        if verdict in ACTIONABLE:
            path = _ancestors(root, leaf, []) or []
            blocked = [n for n in path if n.op in ("|", "!") and _allids(n, fixed_all)]
            ors = [n for n in path if n.op == "|"]
            if blocked:
                verdict = "futile"
                blockers = [x for x in leaves(blocked[-1]) if x.key != leaf.key and verdicts[id(x)] is not None
                            and verdicts[id(x)] not in ACTIONABLE]
                what = ", ".join(sorted({_item(x) for x in blockers})) or "a NOT"
                notes.append(f"does not help {ev.shape}: {what} in the same OR cannot use an index")
            else:
                if ors:
                    others = sorted({_item(x) for x in leaves(ors[-1])
                                     if x.key != leaf.key and verdicts[id(x)] is not None})
                    if others:
                        notes.append(f"in {ev.shape} it is ORed with {', '.join(others)}: every branch of an "
                                     "OR needs an index for the OR to be indexed")
                if ev.full:
                    alone = dict(base_state)
                    for x in comps:
                        if x.key == leaf.key:
                            alone[id(x)] = False
                    if _allids(root, alone):
                        others = sorted({_item(x) for x in comps
                                         if x.key != leaf.key and verdicts[id(x)] in ACTIONABLE})
                        if others:
                            notes.append(f"{ev.shape} is indexed only once {', '.join(others)} "
                                         "is indexed too")
        out.append((leaf, verdict, notes))
    return out


def _item(leaf: Leaf) -> str:
    """A component as the shape writes it: `(l=?)`, `(cn=*?*)`, `(objectclass=*)`."""
    attr = leaf.attribute.lower()
    if leaf.kind == "ext":
        return f"({attr}:{(leaf.rule or '').lower()}:={leaf.value})"
    op = {"approx": "~=", "ge": ">=", "le": "<="}.get(leaf.kind, "=")
    return f"({attr}{op}{leaf.value})"


def advise(shapes: list[ShapeEvidence], instance: str | None = None, backend: str | None = None) -> list[Advice]:
    """Advice per (attribute, match type): actionable first, then by total etime."""
    inst = instance or "<instance>"
    groups: dict[tuple[str, str, str | None], list[tuple[ShapeEvidence, str, list[str], str]]] = {}
    spelling: dict[tuple[str, str, str | None], tuple[str, str | None]] = {}
    for ev in shapes:
        be = backend or backend_of([b for b in ev.bases if not is_non_backend(b)]) or "<backend>"
        example = filter_leaves(ev.example_filter) if ev.example_filter else []
        seen: set[tuple[str, str, str | None]] = set()
        for leaf, verdict, notes in _shape_verdicts(ev):
            key = leaf.key
            if key in seen:
                continue
            seen.add(key)
            if key not in spelling:  # the filter's own spelling reads better in a command
                ex = next((x for x in example if x.key == key), leaf)
                spelling[key] = (ex.attribute, ex.rule)
            groups.setdefault(key, []).append((ev, verdict, notes, be))
    out = []
    for key, uses in groups.items():
        attr, rule = spelling[key]
        kind = key[1]
        actionable = [u for u in uses if u[1] in ACTIONABLE]
        chosen = actionable or uses
        verdict = min((u[1] for u in chosen), key=lambda v: _RANK.get(v, 99))
        adv = Advice(attribute=attr, match_type=kind, index_type=INDEX_TYPE_FOR.get(kind, "eq"),
                     verdict=verdict, rule=rule)
        for ev, _v, notes, _be in chosen:
            adv.searches += ev.searches
            adv.etime_total += ev.etime_total
            adv.shapes.append(ev.shape)
            for note in notes:
                _note(adv, note)
        for ev, v, notes, _be in uses:
            if actionable and v not in ACTIONABLE:
                for note in notes or [f"does not help {ev.shape}: {VERDICT_TEXT[v]}"]:
                    _note(adv, note)
        if kind in ("ge", "le") and verdict in ACTIONABLE:
            _note(adv, "range filters (>=, <=) use the equality index, through the attribute's ORDERING rule")
        if verdict == "scan_limit" and kind == "pres":
            _note(adv, "(attr=*) on an attribute most entries have returns (nearly) every entry")
        adv.commands = _commands(adv, inst, chosen[0][3])
        out.append(adv)
    return sorted(out, key=lambda a: (a.verdict not in ACTIONABLE, -a.etime_total, a.attribute.lower()))


def _note(adv: Advice, text: str) -> None:
    if text not in adv.notes:
        adv.notes.append(text)


def _commands(adv: Advice, instance: str, backend: str) -> list[str]:
    if adv.verdict not in ACTIONABLE:
        return []
    be = _quote(backend)
    attr = adv.attribute
    if adv.verdict == "missing":
        cmd = f"dsconf {instance} backend index add --attr {attr} --index-type {adv.index_type}"
        if adv.match_type == "ext" and adv.rule:
            cmd += f" --matching-rule {adv.rule}"
        return [f"{cmd} --reindex {be}"]
    if adv.match_type == "ext" and adv.rule:
        set_cmd = f"dsconf {instance} backend index set --attr {attr} --add-mr {adv.rule} {be}"
    else:
        set_cmd = f"dsconf {instance} backend index set --attr {attr} --add-type {adv.index_type} {be}"
    return [set_cmd, f"dsconf {instance} backend index reindex --attr {attr} --wait {be}"]


def _quote(value: str) -> str:
    if value.startswith("<") or re.fullmatch(r"[A-Za-z0-9_.,=-]+", value):
        return value  # a placeholder, or nothing the shell would split
    return "'" + value.replace("'", "'\\''") + "'"
