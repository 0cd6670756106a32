"""Field-level three-way merge of canonical records (pure: no I/O, no clock, no database).

Why a three-way merge: comparing only the two current sides cannot tell *who* changed a
field, so every difference looks like a conflict and a timestamp has to guess. Keeping the
values both sides agreed on at the last sync (the *base*) lets us see that a field changed on
one side only; that change simply flows to the other side. Strategies (``local_wins``,
``last_write_wins``, ...) are consulted only for real conflicts: a field changed on both
sides to different values (ARCHITECTURE.md, principle 2).

Rules the engine relies on:

* A key absent from one side's dict means that side does not have the field; it is never
  erased there and never written to it.
* A conflicting field is written to neither side and its base stays as it was, so it stays
  a conflict until a human resolves it (:func:`resolve_with`); other fields still flow.
* ``new_base`` equals what both sides hold after the writes, so merging again after the
  writes is a no-op (no echo, idempotence).
* ``last_write_wins`` never guesses: a missing timestamp or two timestamps within
  ``skew_tolerance`` of each other is a "close call" conflict, because a skewed clock would
  otherwise silently keep the older value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from rapidfuzz.distance import LCSseq
from unidecode import unidecode

__all__ = [
    "DIRECTIONS",
    "MERGE_RULES",
    "STRATEGIES",
    "FieldConflict",
    "FieldPolicy",
    "MergeContext",
    "MergeResult",
    "is_empty",
    "resolve_with",
    "text_similarity",
    "three_way_merge",
    "values_equal",
]

STRATEGIES = ("last_write_wins", "external_wins", "local_wins", "merge", "manual", "manual_if_different")
MERGE_RULES = ("non_empty", "longest", "union")
DIRECTIONS = ("both", "push", "pull")
DEFAULT_DIFFERENT_THRESHOLD = 0.5

_MISSING: Any = object()  # a key absent from a mapping (distinct from a present None)


@dataclass(frozen=True)
class FieldPolicy:
    """How a field's real conflicts (changed on both sides, differently) are settled.

    ``rule`` applies to strategy ``merge`` (``non_empty`` when not given, the spec's
    ``usar_nao_vazio``); ``threshold`` to ``manual_if_different`` (0.5 when not given).
    Invalid values raise at construction so a bad configuration fails when it is loaded,
    not in the middle of a sync run.
    """

    strategy: str = "last_write_wins"
    rule: str | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected one of {STRATEGIES}")
        if self.rule is not None and self.rule not in MERGE_RULES:
            raise ValueError(f"unknown merge rule {self.rule!r}; expected one of {MERGE_RULES}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {self.threshold!r}")


@dataclass(frozen=True)
class MergeContext:
    """Record-level facts a merge needs besides the values.

    Times must be timezone-aware (the provider's declared zone already applied): comparing a
    naive local time with a UTC one is exactly the skew bug we guard against.
    """

    local_modified_at: datetime | None = None
    external_modified_at: datetime | None = None
    skew_tolerance: timedelta = timedelta(seconds=120)
    direction: str = "both"

    def __post_init__(self) -> None:
        for name in ("local_modified_at", "external_modified_at"):
            value = getattr(self, name)
            if value is not None and (value.tzinfo is None or value.utcoffset() is None):
                raise ValueError(f"{name} must be timezone-aware")
        if self.skew_tolerance < timedelta(0):
            raise ValueError("skew_tolerance must not be negative")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; expected one of {DIRECTIONS}")


@dataclass(frozen=True)
class FieldConflict:
    """A field changed on both sides that no rule could settle; a human decides."""

    field: str
    base: Any
    local: Any
    external: Any
    reason: str


Action = Literal["to_local", "to_external", "conflict", "kept"]


@dataclass
class MergeResult:
    """What to write where, what awaits review, and the base to store after the writes."""

    to_local: dict[str, Any] = field(default_factory=dict)
    to_external: dict[str, Any] = field(default_factory=dict)
    conflicts: dict[str, FieldConflict] = field(default_factory=dict)
    new_base: dict[str, Any] = field(default_factory=dict)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when at least one side has something to write (conflicts write nothing)."""
        return bool(self.to_local or self.to_external)


# --------------------------------------------------------------------------- value helpers


def _normal(value: Any) -> Any:
    """Comparison form: every empty value is None, dict keys with empty values are dropped,
    lists of dicts are sorted (their order carries no meaning, e.g. ``contatos``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, Mapping):
        items = {str(k): _normal(v) for k, v in value.items()}
        cleaned = {k: v for k, v in items.items() if v is not None}
        return cleaned or None
    if isinstance(value, list | tuple):
        if not value:
            return None
        normal = [_normal(v) for v in value]
        if all(isinstance(v, Mapping) for v in value):
            normal.sort(key=_dumps)
        return normal
    return value


def _dumps(value: Any) -> str:
    # sort_keys + a fixed separator gives one string per value; bool and int stay distinct
    # ("true" vs "1"), unlike Python's True == 1.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _key(value: Any) -> str:
    return _dumps(_normal(value))


def is_empty(value: Any) -> bool:
    """None, "" and empty lists/dicts all mean "no value" (normalisation upstream already
    maps "" to None, but a provider payload may still carry an empty list)."""
    return _normal(value) is None


def values_equal(a: Any, b: Any) -> bool:
    """Equality as the merge sees it: empties are equal, lists of dicts ignore order."""
    return _key(a) == _key(b)


_SPACES = re.compile(r"\s+")


def _similarity_text(value: Any) -> str:
    if is_empty(value):
        return ""
    text = value if isinstance(value, str) else _key(value)
    return _SPACES.sub(" ", unidecode(text).lower()).strip()


def text_similarity(a: Any, b: Any) -> float:
    """Similarity in [0, 1] used by ``manual_if_different``: case, accents and spacing do
    not count as differences ("João  Silva" and "joao silva" are identical).

    Why longest-common-subsequence over the *longer* length and not ``fuzz.ratio``: it is
    what the spec's ``similar_text(a, b) / max(strlen)`` measures, and ``fuzz.ratio``
    (matches over the *sum* of lengths) rates the spec's own case 7.3, "João Silva Santos"
    against "J. Silva", 0.56, above the 0.5 threshold the spec says must go to review
    (this measure gives 0.41). A shortened or truncated name must count as different.
    """
    return float(LCSseq.normalized_similarity(_similarity_text(a), _similarity_text(b)))


def _size(value: Any) -> int:
    if is_empty(value):
        return 0
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    return len(str(value))


def _union(local: Any, external: Any) -> list[Any]:
    """Local items in their order, then external items not already present; duplicates
    (by normalised content) are dropped from both."""
    out: list[Any] = []
    seen: set[str] = set()
    for item in [*(local or []), *(external or [])]:
        k = _key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def resolve_with(conflict: FieldConflict, choice: str) -> Any:
    """The value a manual resolution picks. ``externo`` (the REST API's word) is accepted
    beside ``external``."""
    if choice == "local":
        return conflict.local
    if choice in ("external", "externo"):
        return conflict.external
    raise ValueError(f"choice must be 'local' or 'external', got {choice!r}")


# --------------------------------------------------------------------------- settling


@dataclass(frozen=True)
class _Settle:
    """Outcome of a real conflict: which side's value wins, a computed value, or review."""

    kind: Literal["local", "external", "value", "conflict"]
    reason: str
    value: Any = None


def _last_write_wins(ctx: MergeContext) -> _Settle:
    lt, et = ctx.local_modified_at, ctx.external_modified_at
    if lt is None or et is None:
        return _Settle("conflict", "close call: modification time unknown")
    if abs(lt - et) <= ctx.skew_tolerance:
        return _Settle("conflict", "close call: edits within skew tolerance")
    if lt > et:
        return _Settle("local", "last write wins: local is newer")
    return _Settle("external", "last write wins: external is newer")


def _below_threshold(policy: FieldPolicy, local: Any, external: Any) -> tuple[bool, float]:
    threshold = DEFAULT_DIFFERENT_THRESHOLD if policy.threshold is None else policy.threshold
    similarity = text_similarity(local, external)
    return similarity < threshold, similarity


def _settle(policy: FieldPolicy, local: Any, external: Any, ctx: MergeContext) -> _Settle:
    strategy = policy.strategy
    if strategy == "manual":
        return _Settle("conflict", "manual strategy")
    if strategy == "manual_if_different":
        below, similarity = _below_threshold(policy, local, external)
        if below:
            return _Settle("conflict", f"values too different (similarity {similarity:.2f})")
    # A one-way integration never writes to the side it only reads from, so the side it
    # reads from wins every automatic decision.
    if ctx.direction == "pull":
        return _Settle("external", "pull only: external wins")
    if ctx.direction == "push":
        return _Settle("local", "push only: local wins")
    if strategy == "local_wins":
        return _Settle("local", "local wins")
    if strategy == "external_wins":
        return _Settle("external", "external wins")
    if strategy == "merge":
        rule = policy.rule or "non_empty"
        if rule == "non_empty":
            if is_empty(external):
                return _Settle("local", "merge non_empty: external is empty")
            return _Settle("external", "merge non_empty: external is filled")
        if rule == "longest":
            ls, es = _size(local), _size(external)
            if ls > es:
                return _Settle("local", "merge longest: local is longer")
            if es > ls:
                return _Settle("external", "merge longest: external is longer")
            return _last_write_wins(ctx)
        # union
        for value in (local, external):
            if not is_empty(value) and not isinstance(value, list | tuple):
                return _Settle("conflict", "merge union needs lists")
        return _Settle("value", "merge union", _union(local, external))
    return _last_write_wins(ctx)  # last_write_wins, and manual_if_different when similar


# --------------------------------------------------------------------------- the merge


def three_way_merge(
    base: Mapping[str, Any] | None,
    local: Mapping[str, Any],
    external: Mapping[str, Any],
    policy_for: Callable[[str], FieldPolicy],
    ctx: MergeContext = MergeContext(),
    fields: Iterable[str] | None = None,
) -> MergeResult:
    """Merge one linked record.

    ``base`` is the snapshot stored at the last sync (None for a link just made by
    matching). A field missing from ``base`` is treated like a whole missing base: values
    that differ are a conflict for the strategy, except that a filled value always fills an
    empty one (linking never erases data).

    ``fields`` limits the merge to those names (default: every key of either side). Base
    entries for fields not merged are carried into ``new_base`` unchanged.
    """
    result = MergeResult()
    base_map: Mapping[str, Any] = base or {}
    result.new_base = dict(base_map)
    names = list(fields) if fields is not None else list(dict.fromkeys([*local, *external]))

    for name in names:
        lv = local.get(name, _MISSING)
        ev = external.get(name, _MISSING)
        bv = base_map.get(name, _MISSING)
        if lv is _MISSING and ev is _MISSING:
            continue
        if lv is _MISSING or ev is _MISSING:
            # One side lacks the field: nothing can flow; remember the present value so a
            # later change on that side is seen as a change.
            result.new_base[name] = ev if lv is _MISSING else lv
            continue
        _merge_field(result, name, bv, lv, ev, policy_for(name), ctx)
    return result


def _merge_field(
    result: MergeResult, name: str, bv: Any, lv: Any, ev: Any, policy: FieldPolicy, ctx: MergeContext
) -> None:
    if values_equal(lv, ev):
        result.new_base[name] = lv  # unchanged, or changed on both sides to the same value
        return

    if bv is _MISSING:
        local_changed = not is_empty(lv)
        external_changed = not is_empty(ev)
    else:
        local_changed = not values_equal(lv, bv)
        external_changed = not values_equal(ev, bv)

    linking = bv is _MISSING
    if local_changed and not external_changed:
        reason = "empty on external, filled from local" if linking else "changed on local only"
        _flow(result, name, bv, lv, "to_external", reason, ctx)
        return
    if external_changed and not local_changed:
        reason = "empty on local, filled from external" if linking else "changed on external only"
        _flow(result, name, bv, ev, "to_local", reason, ctx)
        return

    settled = _settle(policy, lv, ev, ctx)
    reason = f"both changed; {settled.reason}"
    if settled.kind == "conflict":
        result.conflicts[name] = FieldConflict(
            field=name, base=None if bv is _MISSING else bv, local=lv, external=ev, reason=settled.reason
        )
        result.decisions.append((name, "conflict", settled.reason))
        _keep_base(result, name, bv)
        return
    if settled.kind == "local":
        _write(result, name, "to_external", lv, reason)
        result.new_base[name] = lv
        return
    if settled.kind == "external":
        _write(result, name, "to_local", ev, reason)
        result.new_base[name] = ev
        return
    value = settled.value
    if not values_equal(value, lv):
        _write(result, name, "to_local", value, reason)
    if not values_equal(value, ev):
        _write(result, name, "to_external", value, reason)
    result.new_base[name] = value


def _flow(result: MergeResult, name: str, bv: Any, value: Any, action: Action, reason: str, ctx: MergeContext) -> None:
    """A one-sided change goes to the other side unless the direction forbids it; then it
    is kept where it is (not reverted) and the base is left alone, so it flows later if the
    direction is opened."""
    blocked = (action == "to_external" and ctx.direction == "pull") or (
        action == "to_local" and ctx.direction == "push"
    )
    if blocked:
        result.decisions.append((name, "kept", f"{reason}; direction {ctx.direction}"))
        _keep_base(result, name, bv)
        return
    _write(result, name, action, value, reason)
    result.new_base[name] = value


def _write(result: MergeResult, name: str, action: Action, value: Any, reason: str) -> None:
    target = result.to_local if action == "to_local" else result.to_external
    target[name] = value
    result.decisions.append((name, action, reason))


def _keep_base(result: MergeResult, name: str, bv: Any) -> None:
    if bv is _MISSING:
        result.new_base.pop(name, None)
    else:
        result.new_base[name] = bv
