"""Duplicate matching between an incoming canonical record and the local records (pure).

Two kinds of answer, never mixed:

* :meth:`MatchIndex.exact` finds the record sharing a unique key (cliente: e-mail, CPF,
  CNPJ, in the spec's order; produto: code, then barcode; venda: code). The engine links on
  it without asking anyone (spec 4.3 and case 7.4).
* :meth:`MatchIndex.fuzzy` suggests records whose *name* is similar. It never links: its
  candidates go to the duplicate review queue, so it favours telling a human over guessing.

Fuzzy matching uses *blocking* so its cost grows with the data, not with its square: each
distinct name is indexed under a few short keys, and an incoming name is scored only against
the names sharing one of its keys. A key pairs one of the name's main words, whole, with a
typo-tolerant form of another's start (its first three letters, or its first four with one
letter dropped). Two names therefore share a key when they have one word in common and
another equal up to one typo, in any order, with or without an extra word; a one-word name
is indexed under its one-deletion variants instead. Keys shared by too many names say
nothing, so they are skipped and every block stays bounded. Homonyms are scored once per
name, and grouped by the documents they hold so that those a CPF proves different are
skipped together.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process
from unidecode import unidecode

__all__ = [
    "EXACT_KEYS",
    "NAME_FIELDS",
    "PLACEHOLDER_EMAIL_NAMES",
    "Candidate",
    "ExactIndex",
    "MatchIndex",
    "exact_value",
    "ignored_keys",
    "is_placeholder",
    "name_similarity",
    "normalize_name",
]

EXACT_KEYS: dict[str, tuple[str, ...]] = {
    "cliente": ("email", "cpf", "cnpj"),
    "produto": ("codigo", "codigo_barra"),
    "venda": ("codigo",),
}
# Names compared by fuzzy matching; a PJ's trade name and legal name both identify it.
NAME_FIELDS: dict[str, tuple[str, ...]] = {
    "cliente": ("nome", "razao_social"),
    "produto": ("nome",),
    "venda": (),
}
# Keys that tell two records apart for sure: two clientes with different CPFs are two
# people however alike their names are, so they are never suggested as duplicates.
_DISTINCT_KEYS: dict[str, tuple[str, ...]] = {
    "cliente": ("cpf", "cnpj"),
    "produto": ("codigo_barra",),
    "venda": (),
}
# fuzzy() finds records holding the same document through the exact-key index
assert all(set(_DISTINCT_KEYS[e]) <= set(EXACT_KEYS[e]) for e in EXACT_KEYS)

# The spec's list, plus EI (empresário individual), as common on invoices as EIRELI.
_COMPANY_SUFFIXES = frozenset({"ltda", "me", "epp", "eireli", "ei", "mei", "sa", "cia"})
_HONORIFICS = frozenset({"sr", "sra", "srta", "dr", "dra", "prof", "profa"})
# Words too common to say anything about identity; never used as a blocking key.
_BLOCK_STOPWORDS = frozenset({"da", "de", "do", "das", "dos", "e", "di", "du", "del"})

_SA = re.compile(r"\bs\s*[/.]\s*a\b\.?")
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")

MAX_BLOCK = 256  # a blocking key shared by more distinct names than this is not informative
MAX_CANDIDATES = 1024  # hard bound on the distinct names scored for one query
_MAX_KEY_TOKENS = 3  # longest words used to build pair keys (at most 3*2 ordered pairs)


def normalize_name(name: str | None) -> str:
    """Comparable form of a person's or company's name.

    Lower case, accents stripped, punctuation removed, trailing company suffixes (LTDA,
    ME, EPP, EIRELI, EI, MEI, S/A, S.A., SA, CIA, & CIA, E CIA) and leading honorifics (Sr.,
    Sra., Dr., ...) removed, spaces collapsed: "JOÃO DA SILVA LTDA" -> "joao da silva".

    Suffixes are recognised before accents are stripped, so the surname "Sá" is kept while
    the suffix "SA" is not; a name made only of such words is kept as it is rather than
    reduced to nothing.
    """
    if not name:
        return ""
    text = _SA.sub(" sa ", name.lower()).replace("&", " e ")
    tokens = _WORD.findall(text)
    while len(tokens) > 1 and tokens[-1] in _COMPANY_SUFFIXES:
        removed = tokens.pop()
        if removed == "cia" and len(tokens) > 1 and tokens[-1] == "e":
            tokens.pop()
    while len(tokens) > 1 and tokens[0] in _HONORIFICS:
        tokens.pop(0)
    return " ".join(_ASCII_WORD.findall(unidecode(" ".join(tokens)).lower()))


def name_similarity(a: str | None, b: str | None) -> float:
    """Similarity in [0, 1] of two names after :func:`normalize_name`; word order does not
    matter ("Silva, João" equals "João Silva"). An empty name is similar to nothing."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return 0.0
    return float(fuzz.token_sort_ratio(na, nb, processor=None)) / 100.0


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _start_forms(word: str) -> set[str]:
    """Forms of a word's start that survive one typo in it: its first three letters, and
    its first four with any one dropped ("gomes" -> gom, ome, gme, goe; "gmoes" shares gme)."""
    return {word[:3], *_deletions(word[:4])}


def _block_keys(normalised: str) -> set[str]:
    """Blocking keys of a normalised name: for each ordered pair of its main words, the
    first word whole with each typo-tolerant start of the second ("marques|jul")."""
    words = sorted(
        {t for t in normalised.split() if len(t) > 1 and t not in _BLOCK_STOPWORDS},
        key=lambda t: (-len(t), t),
    )[:_MAX_KEY_TOKENS]
    if not words:
        return {"=" + normalised} if normalised else set()
    if len(words) == 1:
        # A one-word name has no pairs; its one-deletion variants ("brito" -> "brto", ...)
        # meet those of a copy with one letter dropped, added, changed or swapped.
        return {"d:" + v for v in {words[0], *_deletions(words[0])}}
    forms = {b: _start_forms(b) for b in words}
    return {f"p:{a}|{form}" for a in words for b in words if a != b for form in forms[b]}


# What shop assistants type in the e-mail field of a customer who has none ("naotem@...",
# "sem.email@...", "nao_possui@..."): shared by many people, so never a key. Compared on the
# part before the @ with everything but letters removed.
PLACEHOLDER_EMAIL_NAMES = frozenset(
    {
        "naotem",
        "naotenho",
        "naopossui",
        "naopossuiemail",
        "naotememail",
        "nao",
        "naoha",
        "naoinformado",
        "naoinformou",
        "naoinformar",
        "naoquis",
        "naoquer",
        "naodeu",
        "sem",
        "sememail",
        "semmail",
        "semcadastro",
        "nenhum",
        "nenhuma",
        "none",
        "null",
        "nulo",
        "na",
        "nt",
        "x",
        "xx",
        "xxx",
        "xxxx",
        "teste",
        "test",
        "email",
        "consumidor",
        "consumidorfinal",
    }
)


def is_placeholder(key: str, value: str) -> bool:
    """Whether a unique key's value (in its compared spelling) is a known stand-in for
    "none", which would link unrelated people if matched on."""
    if key != "email":
        return False
    name = value.partition("@")[0]
    return "".join(ch for ch in name if "a" <= ch <= "z") in PLACEHOLDER_EMAIL_NAMES


def compared_spelling(key: str, value: Any) -> str | None:
    """The spelling a unique key is compared in: e-mail lower case, documents digits only."""
    if value is None:
        return None
    text = str(value).strip()
    if key == "email":
        text = text.lower()
    elif key in ("cpf", "cnpj"):
        text = "".join(ch for ch in text if ch.isdigit())
    return text or None


def ignored_keys(values: Iterable[str]) -> frozenset[str]:
    """A store's own placeholder values (config ``chaves_ignoradas``) in every spelling they
    could be compared in (an e-mail lower case, a document's digits)."""
    out: set[str] = set()
    for value in values:
        for key in ("email", "cpf", "codigo"):
            spelled = compared_spelling(key, value)
            if spelled is not None:
                out.add(spelled)
    return frozenset(out)


def exact_value(key: str, value: Any, ignored: frozenset[str] = frozenset()) -> str | None:
    """The value a record is linked on for ``key`` (shared with the engine's bulk look-ups
    and the provider's look-ups before a create); None when it is empty, a known placeholder
    or one of the store's ``ignored`` values: such a record is matched by name only, as a
    suggestion for a human."""
    text = compared_spelling(key, value)
    if text is None or text in ignored or is_placeholder(key, text):
        return None
    return text


@dataclass(frozen=True)
class Candidate:
    """A local record whose name resembles the incoming one (a suggestion, not a link)."""

    local_id: int
    score: float
    reason: str


class _Entry(NamedTuple):
    # A tuple of tuples of strings: the garbage collector stops tracking it, which keeps
    # full collections cheap on an index of 100,000+ records.
    exact: tuple[tuple[str, str], ...]
    names: tuple[str, ...]  # normalised, one per name field present
    choices: tuple[str, ...]  # the same, token-sorted: what is scored and blocked
    distinct: tuple[tuple[str, str], ...]


_SLOT_BITS = 2  # room for up to four name fields per record
_SLOT_MASK = (1 << _SLOT_BITS) - 1
assert all(len(fields) <= _SLOT_MASK + 1 for fields in NAME_FIELDS.values())


def _choice_id(local_id: int, slot: int) -> int:
    """One int for (record, which of its names), ordered like the ids; exact for any int
    id, negative included."""
    return (local_id << _SLOT_BITS) | slot


def _sorted_tokens(normalised: str) -> str:
    # token_sort_ratio(a, b) is ratio() of the token-sorted strings; sorting once when a
    # record is indexed keeps that work out of every comparison.
    return " ".join(sorted(normalised.split()))


class ExactIndex:
    """Unique keys -> local id, for every live local row (linked or not) and for records
    created earlier in the same run (negative ids while their page is not yet flushed)."""

    def __init__(self, entity_type: str, ignored: frozenset[str] = frozenset()) -> None:
        self.keys = EXACT_KEYS[entity_type]
        self._ignored = ignored  # placeholders of this store: never linked on
        # One map per key: a (key, value) tuple per entry cost ~10 MB more on a 100k store.
        self._maps: dict[str, dict[str, int]] = {key: {} for key in self.keys}

    def pairs(self, canon: dict[str, Any]) -> list[tuple[str, str]]:
        """The record's normalised unique keys; callers that look a record up and then
        add it keep these (normalising is most of the index's cost on a large pull)."""
        out = []
        for key in self.keys:
            value = exact_value(key, canon.get(key), self._ignored)
            if value is not None:
                out.append((key, value))
        return out

    def add(self, local_id: int, canon: dict[str, Any]) -> None:
        self.add_pairs(local_id, self.pairs(canon))

    def add_pairs(self, local_id: int, pairs: list[tuple[str, str]]) -> None:
        for key, value in pairs:
            known = self._maps[key]
            current = known.get(value)
            if current is None or current < 0 or (local_id >= 0 and local_id < current):
                known[value] = local_id

    def find(self, canon: dict[str, Any]) -> tuple[int, str] | None:
        return self.find_pairs(self.pairs(canon))

    def find_pairs(self, pairs: list[tuple[str, str]]) -> tuple[int, str] | None:
        for key, value in pairs:
            hit = self._maps[key].get(value)
            if hit is not None:
                return hit, key
        return None


class MatchIndex:
    """In-memory index of one store's local records of one entity type.

    Built once per pull run (or kept warm and updated with :meth:`add`/:meth:`remove`), then
    asked for each incoming record. Answers do not depend on the order records were added:
    among several records holding the same key, the lowest id wins.

    Blocks hold distinct *names*, not records: homonyms ("Maria Silva" held by 40 people)
    are scored once, so the work per query follows the number of different names that
    look alike, which levels off as a store grows, rather than the number of records.
    """

    def __init__(self, entity_type: str, ignored: frozenset[str] = frozenset()) -> None:
        if entity_type not in EXACT_KEYS:
            raise ValueError(f"unknown entity type {entity_type!r}; expected one of {tuple(EXACT_KEYS)}")
        self.entity_type = entity_type
        self._ignored = ignored
        self._exact_keys = EXACT_KEYS[entity_type]
        self._name_fields = NAME_FIELDS[entity_type]
        self._distinct_keys = _DISTINCT_KEYS[entity_type]
        self._entries: dict[int, _Entry] = {}
        # key name -> value -> holder id, or ids ascending when several share it (a
        # placeholder e-mail can be shared by thousands). A bare int in the usual case keeps
        # 100,000s of containers away from the garbage collector.
        self._by_key: dict[str, dict[str, int | list[int]]] = {k: {} for k in self._exact_keys}
        # token-sorted name -> documents held (e.g. ("cpf",)) -> choice ids, ascending.
        # Grouping by which documents records hold lets fuzzy() skip, in one step, every
        # homonym whose CPF proves it is someone else, however many there are.
        self._holders: dict[str, dict[tuple[str, ...], list[int]]] = {}
        # blocking key -> {name: name}: dicts of strings (the garbage collector ignores
        # them), merged without duplicates and scored by rapidfuzz in C in one call.
        self._blocks: dict[str, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _names(self, canon: Mapping[str, Any]) -> tuple[str, ...]:
        found = (normalize_name(canon.get(f)) for f in self._name_fields)
        return tuple(dict.fromkeys(n for n in found if n))

    def _values(self, canon: Mapping[str, Any], keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
        pairs = ((k, exact_value(k, canon.get(k), self._ignored)) for k in keys)
        return tuple((k, v) for k, v in pairs if v is not None)

    def add(self, local_id: int, canon: Mapping[str, Any]) -> None:
        """Index a local record; adding an id again replaces its previous entry."""
        if local_id in self._entries:
            self.remove(local_id)
        names = self._names(canon)
        entry = _Entry(
            exact=self._values(canon, self._exact_keys),
            names=names,
            choices=tuple(_sorted_tokens(n) for n in names),
            distinct=self._values(canon, self._distinct_keys),
        )
        self._entries[local_id] = entry
        for key, value in entry.exact:
            holders = self._by_key[key]
            held = holders.get(value)
            if held is None:
                holders[value] = local_id
            elif isinstance(held, int):
                holders[value] = sorted((held, local_id))
            else:
                bisect.insort(held, local_id)
        documents = tuple(k for k, _ in entry.distinct)
        for slot, choice in enumerate(entry.choices):
            groups = self._holders.get(choice)
            if groups is None:
                groups = self._holders[choice] = {}
                for block in _block_keys(choice):
                    self._blocks.setdefault(block, {})[choice] = choice
            bisect.insort(groups.setdefault(documents, []), _choice_id(local_id, slot))

    def remove(self, local_id: int) -> None:
        """Forget a local record (deleted, or about to be re-added); unknown ids are ignored."""
        entry = self._entries.pop(local_id, None)
        if entry is None:
            return
        for key, value in entry.exact:
            holders = self._by_key[key]
            held = holders[value]
            if isinstance(held, int):
                del holders[value]
            else:
                del held[bisect.bisect_left(held, local_id)]
                if len(held) == 1:
                    holders[value] = held[0]
        documents = tuple(k for k, _ in entry.distinct)
        for slot, choice in enumerate(entry.choices):
            groups = self._holders[choice]
            ids = groups[documents]
            del ids[bisect.bisect_left(ids, _choice_id(local_id, slot))]
            if not ids:
                del groups[documents]
            if groups:
                continue
            del self._holders[choice]
            for block in _block_keys(choice):
                members = self._blocks[block]
                del members[choice]
                if not members:
                    del self._blocks[block]

    def exact(self, canon: Mapping[str, Any]) -> tuple[int, str] | None:
        """The local record sharing a unique key, as (local_id, key name), trying keys in
        the spec's order; None when no key matches or the record has none."""
        for key, value in self._values(canon, self._exact_keys):
            held = self._by_key[key].get(value)
            if held is not None:
                return (held if isinstance(held, int) else held[0]), key
        return None

    def fuzzy(self, canon: Mapping[str, Any], threshold: float = 0.85, limit: int = 5) -> list[Candidate]:
        """Local records whose name scores at least ``threshold`` (0..1) against the
        incoming record's, best first (ties by lowest id), at most ``limit``.

        Records whose CPF/CNPJ (produto: barcode) differs from the incoming one are left
        out: a differing document proves they are different. Callers try :meth:`exact`
        first; fuzzy answers are suggestions for review only.
        """
        names = self._names(canon)
        if limit <= 0 or not names:
            return []
        queries = [_sorted_tokens(n) for n in names]
        choices = self._candidates(queries)
        if not choices:
            return []
        distinct = dict(self._values(canon, self._distinct_keys))
        cutoff = max(threshold * 100.0 - 1e-9, 0.0)
        best: dict[int, tuple[float, int, int]] = {}  # local_id -> (similarity, query idx, name idx)
        for qi, query in enumerate(queries):
            hits = process.extract(query, choices, scorer=fuzz.ratio, processor=None, score_cutoff=cutoff, limit=None)
            # Hits come best first and holders in ascending id order. Once `limit` records
            # are kept, a lower score cannot enter the answer and a higher id of the same
            # name cannot outrank the ones kept, so the rest is skipped; other names with
            # an equal score are still read, as they may hold lower ids.
            kept: set[int] = set()
            floor = threshold
            for choice, score, _key in hits:
                similarity = float(score) / 100.0
                if similarity < floor:
                    break  # below the threshold (rounding at the cutoff) or the top `limit`
                for choice_id in self._compatible_holders(choice, distinct, limit):
                    local_id, slot = choice_id >> _SLOT_BITS, choice_id & _SLOT_MASK
                    kept.add(local_id)
                    if local_id not in best or similarity > best[local_id][0]:
                        best[local_id] = (similarity, qi, slot)
                if len(kept) >= limit:
                    floor = similarity
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:limit]
        return [
            Candidate(
                local_id,
                similarity,
                f"similar name ({similarity:.2f}): {names[qi]!r} ~ {self._entries[local_id].names[slot]!r}",
            )
            for local_id, (similarity, qi, slot) in ranked
        ]

    def _compatible_holders(self, choice: str, distinct: Mapping[str, str], limit: int) -> list[int]:
        """The lowest `limit` choice ids holding this name whose documents do not prove them
        different from the query: records holding none of the query's document types, and
        records holding the very same documents (found through the exact-key index)."""
        picked: list[int] = []
        for documents, ids in self._holders[choice].items():
            shared = [k for k in documents if k in distinct]
            if not shared:
                picked.extend(ids[:limit])
                continue
            same = self._by_key[shared[0]].get(distinct[shared[0]], [])
            for local_id in [same] if isinstance(same, int) else same:
                entry = self._entries[local_id]
                values = dict(entry.distinct)
                if tuple(values) == documents and all(values[k] == distinct[k] for k in shared):
                    picked.extend(_choice_id(local_id, slot) for slot, c in enumerate(entry.choices) if c == choice)
        picked.sort()
        return picked[:limit]

    def _candidates(self, queries: Iterable[str]) -> dict[str, str]:
        """Distinct names sharing an informative blocking key with the query, smallest
        blocks first, at most about MAX_CANDIDATES of them."""
        postings = sorted(
            (len(members), key)
            for key in {k for q in queries for k in _block_keys(q)}
            if (members := self._blocks.get(key)) and len(members) <= MAX_BLOCK
        )
        found: dict[str, str] = {}
        for size, key in postings:
            if len(found) + size > MAX_CANDIDATES:
                break
            found.update(self._blocks[key])
        return found
