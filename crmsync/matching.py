"""Duplicate matching between an incoming canonical record and the local records (pure).

Two kinds of answer, never mixed:

* :meth:`MatchIndex.exact` finds the record sharing a unique key (cliente: e-mail, CPF,
  CNPJ, in the spec's order; produto: code, then barcode; venda: code). The engine links on
  it without asking anyone (spec 4.3 and case 7.4).
* :meth:`MatchIndex.fuzzy` suggests records whose *name* is similar. It never links: its
  candidates go to the duplicate review queue, so it favours telling a human over guessing.

Fuzzy matching uses *blocking* so its cost grows with the data, not with its square: each
name is indexed under a few short keys, and an incoming name is scored only against the
records sharing one of its keys. A key pairs the first three letters of one word with a
typo-tolerant form of another word's start (its first three letters, or its first four
with one letter dropped), for every ordered pair of the name's main words. Two names share
a key when they have two words in common, in any order, with a typo in one of them, a typo
past the third letter in both, or a word more or less. A one-word name is indexed under its
one-deletion variants instead. Keys held by too many records say nothing ("silva"), so
they are skipped and every block stays bounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process
from unidecode import unidecode

__all__ = ["EXACT_KEYS", "NAME_FIELDS", "Candidate", "MatchIndex", "name_similarity", "normalize_name"]

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

_COMPANY_SUFFIXES = frozenset({"ltda", "me", "epp", "eireli", "mei", "sa", "cia"})
_HONORIFICS = frozenset({"sr", "sra", "srta", "dr", "dra", "prof", "profa"})
# Words too common to say anything about identity; never used as a blocking key.
_BLOCK_STOPWORDS = frozenset({"da", "de", "do", "das", "dos", "e", "di", "du", "del"})

_SA = re.compile(r"\bs\s*[/.]\s*a\b\.?")
_WORD = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+")

MAX_BLOCK = 256  # a blocking key held by more records than this is not informative
MAX_CANDIDATES = 1024  # hard bound on the names scored for one query
_MAX_KEY_TOKENS = 3  # longest words used to build pair keys (at most 3*2 ordered pairs)


def normalize_name(name: str | None) -> str:
    """Comparable form of a person's or company's name.

    Lower case, accents stripped, punctuation removed, trailing company suffixes (LTDA,
    ME, EPP, EIRELI, MEI, S/A, S.A., SA, CIA, & CIA, E CIA) and leading honorifics (Sr.,
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


def _score(a: str, b: str) -> float:
    """Token-order-insensitive similarity of two already normalised names, 0..100."""
    return float(fuzz.token_sort_ratio(a, b, processor=None))


def name_similarity(a: str | None, b: str | None) -> float:
    """Similarity in [0, 1] of two names after :func:`normalize_name`; word order does not
    matter ("Silva, João" equals "João Silva"). An empty name is similar to nothing."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return 0.0
    return _score(na, nb) / 100.0


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


def _exact_value(key: str, value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if key == "email":
        text = text.lower()
    elif key in ("cpf", "cnpj"):
        text = "".join(ch for ch in text if ch.isdigit())
    return text or None


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
    names: tuple[str, ...]
    blocks: tuple[tuple[str, ...], ...]  # blocking keys of each name
    distinct: tuple[tuple[str, str], ...]


_SLOT_BITS = 2  # room for up to four name fields per record
_SLOT_MASK = (1 << _SLOT_BITS) - 1
assert all(len(fields) <= _SLOT_MASK + 1 for fields in NAME_FIELDS.values())


def _choice_id(local_id: int, slot: int) -> int:
    """One int for (record, which of its names); exact for any int id, negative included."""
    return (local_id << _SLOT_BITS) | slot


def _sorted_tokens(normalised: str) -> str:
    return " ".join(sorted(normalised.split()))


class MatchIndex:
    """In-memory index of one store's local records of one entity type.

    Built once per pull run (or kept warm and updated with :meth:`add`/:meth:`remove`), then
    asked for each incoming record. Answers do not depend on the order records were added:
    among several records holding the same key, the lowest id wins.
    """

    def __init__(self, entity_type: str) -> None:
        if entity_type not in EXACT_KEYS:
            raise ValueError(f"unknown entity type {entity_type!r}; expected one of {tuple(EXACT_KEYS)}")
        self.entity_type = entity_type
        self._exact_keys = EXACT_KEYS[entity_type]
        self._name_fields = NAME_FIELDS[entity_type]
        self._distinct_keys = _DISTINCT_KEYS[entity_type]
        self._entries: dict[int, _Entry] = {}
        # key name -> value -> holder ids, ascending; a tuple (not a set) because the garbage
        # collector stops tracking tuples of ints, and one holder is the usual case.
        self._by_key: dict[str, dict[str, tuple[int, ...]]] = {k: {} for k in self._exact_keys}
        # blocking key -> {choice id: token-sorted name}. Dicts, so that the blocks of a
        # query are merged (deduplicated) and scored by rapidfuzz in C, with no Python work
        # per candidate; token_sort_ratio is ratio() of token-sorted strings. Choice ids
        # are plain ints (see _choice_id): dicts of ints and strings are left alone by the
        # garbage collector, which otherwise rescans a million tuples at every full pass.
        self._blocks: dict[str, dict[int, str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def _names(self, canon: Mapping[str, Any]) -> tuple[str, ...]:
        found = (normalize_name(canon.get(f)) for f in self._name_fields)
        return tuple(dict.fromkeys(n for n in found if n))

    def _values(self, canon: Mapping[str, Any], keys: Iterable[str]) -> tuple[tuple[str, str], ...]:
        pairs = ((k, _exact_value(k, canon.get(k))) for k in keys)
        return tuple((k, v) for k, v in pairs if v is not None)

    def add(self, local_id: int, canon: Mapping[str, Any]) -> None:
        """Index a local record; adding an id again replaces its previous entry."""
        if local_id in self._entries:
            self.remove(local_id)
        names = self._names(canon)
        entry = _Entry(
            exact=self._values(canon, self._exact_keys),
            names=names,
            blocks=tuple(tuple(_block_keys(n)) for n in names),
            distinct=self._values(canon, self._distinct_keys),
        )
        self._entries[local_id] = entry
        for key, value in entry.exact:
            holders = self._by_key[key]
            holders[value] = tuple(sorted((*holders.get(value, ()), local_id)))
        for slot, (name, keys) in enumerate(zip(names, entry.blocks, strict=True)):
            choice_id, choice = _choice_id(local_id, slot), _sorted_tokens(name)
            for block in keys:
                self._blocks.setdefault(block, {})[choice_id] = choice

    def remove(self, local_id: int) -> None:
        """Forget a local record (deleted, or about to be re-added); unknown ids are ignored."""
        entry = self._entries.pop(local_id, None)
        if entry is None:
            return
        for key, value in entry.exact:
            holders = self._by_key[key]
            rest = tuple(i for i in holders[value] if i != local_id)
            if rest:
                holders[value] = rest
            else:
                del holders[value]
        for slot, keys in enumerate(entry.blocks):
            for block in keys:
                members = self._blocks[block]
                del members[_choice_id(local_id, slot)]
                if not members:
                    del self._blocks[block]

    def exact(self, canon: Mapping[str, Any]) -> tuple[int, str] | None:
        """The local record sharing a unique key, as (local_id, key name), trying keys in
        the spec's order; None when no key matches or the record has none."""
        for key, value in self._values(canon, self._exact_keys):
            holders = self._by_key[key].get(value)
            if holders:
                return holders[0], key
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
        choices = self._candidates(names)
        if not choices:
            return []
        distinct = dict(self._values(canon, self._distinct_keys))
        cutoff = max(threshold * 100.0 - 1e-9, 0.0)
        best: dict[int, tuple[float, int, int]] = {}  # local_id -> (similarity, query idx, name idx)
        for qi, query in enumerate(names):
            sorted_query = _sorted_tokens(query)
            hits = process.extract(sorted_query, choices, scorer=fuzz.ratio, processor=None,
                                   score_cutoff=cutoff, limit=None)
            # Hits come best first. Once `limit` records of this list are kept, a lower
            # score can no longer enter the answer, so the rest (on Faker-like data, dozens
            # of same-name people per query) is skipped; equal scores are still read, since
            # ties go to the lowest id and the order of equal hits is the index's.
            kept: set[int] = set()
            floor = threshold
            for _choice, score, choice_id in hits:
                similarity = float(score) / 100.0
                if similarity < floor:
                    break  # below the threshold (rounding at the cutoff) or the top `limit`
                local_id, slot = choice_id >> _SLOT_BITS, choice_id & _SLOT_MASK
                if distinct and any(distinct.get(k, v) != v for k, v in self._entries[local_id].distinct):
                    continue
                kept.add(local_id)
                if local_id not in best or similarity > best[local_id][0]:
                    best[local_id] = (similarity, qi, slot)
                if len(kept) == limit:
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

    def _candidates(self, names: Iterable[str]) -> dict[int, str]:
        """Names sharing an informative blocking key with the query, smallest blocks
        first, at most about MAX_CANDIDATES of them."""
        postings = sorted(
            (len(members), key)
            for key in {k for n in names for k in _block_keys(n)}
            if (members := self._blocks.get(key)) and len(members) <= MAX_BLOCK
        )
        found: dict[int, str] = {}
        for size, key in postings:
            if len(found) + size > MAX_CANDIDATES:
                break
            found.update(self._blocks[key])
        return found
