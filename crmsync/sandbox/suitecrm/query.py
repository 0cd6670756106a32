"""JSON:API query parameters of a SuiteCRM listing, parsed the way SuiteCRM's V8 params do.

``page[number]`` / ``page[size]`` (both > 0; no ``page[size]`` = every record and no paging
``meta``), ``sort=[-]field``, ``fields[Module]=a,b``, ``filter[field][op]=value`` with
``op`` in eq/neq/gt/gte/lt/lte and ``filter[operator]=and|or``. Bad values are SuiteCRM's 400s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from crmsync.sandbox.suitecrm.errors import SuiteError
from crmsync.sandbox.suitecrm.modules import ModuleSpec, module_for
from crmsync.sandbox.suitecrm.store import OPERATORS, Condition, ListQuery

_BRACKETS = re.compile(r"^(\w+)((?:\[[^\[\]]*\])+)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_SORT = re.compile(r"^-?\w+$")
# Beyond this a page window overflows SQLite's 64-bit integers; PHP would wrap around instead.
_MAX_PAGE_VALUE = 1_000_000_000


@dataclass
class ParsedQuery:
    listing: ListQuery
    page_number: int
    page_size: int | None
    fields: list[str] | None


def _split(key: str) -> tuple[str, list[str]] | None:
    match = _BRACKETS.match(key)
    if not match:
        return None
    return match.group(1), _PART.findall(match.group(2))


def _positive(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0 or value > _MAX_PAGE_VALUE:
        raise SuiteError(f'The option "{name}" with value "{raw}" is invalid.')
    return value


def parse_fields(spec: ModuleSpec, items: Iterable[tuple[str, str]], known: tuple[str, ...]) -> list[str] | None:
    """``fields[Module]=a,b``: unknown names are SuiteCRM's 400 naming them."""
    for key, value in items:
        parts = _split(key)
        if parts is None or parts[0] != "fields":
            continue
        target = module_for(parts[1][0]) if parts[1] else None
        if target is None:
            raise SuiteError(f"Module {parts[1][0] if parts[1] else ''} does not exist")
        names = value.split(",")
        if target.name != spec.name:
            # SuiteCRM only honours fields of the module listed; others do not filter anything.
            continue
        invalid = [n for n in names if n not in known and n != "id"]  # the bean's toArray() has id too
        if invalid:
            plural = len(invalid) > 1
            raise SuiteError(
                f"The following field{'s' if plural else ''} in {spec.object_name} module "
                f"{'are' if plural else 'is'} not found: {', '.join(invalid)}"
            )
        return names
    return None


def _add_filter(query: ListQuery, path: list[str], value: str) -> None:
    """``filter[operator]`` or ``filter[field][op]``; SuiteCRM's messages for anything else."""
    if path == ["operator"]:
        if value.upper() not in ("AND", "OR"):
            raise SuiteError(f"Filter operator {value} is invalid")
        query.operator = value.upper()
    elif len(path) == 1:
        raise SuiteError(f"Filter field {path[0]} must be an array")
    elif len(path) == 2:
        if path[1].lower() not in OPERATORS:
            raise SuiteError(f"Filter operator {path[1]} is invalid")
        query.conditions.append(Condition(path[0], path[1].lower(), value))
    else:
        raise SuiteError(f"Filter field {path[0]} is malformed")


def _set_sort(query: ListQuery, value: str) -> None:
    # SuiteCRM: one field, ``[\w-]`` only, not blank (``Api/V8/Param/Options/Sort.php``).
    if not _SORT.match(value):
        raise SuiteError(f'The option "sort" with value "{value}" is invalid.')
    query.descending = value.startswith("-")
    query.sort = value.lstrip("-")


def parse_listing(spec: ModuleSpec, items: list[tuple[str, str]], known: tuple[str, ...]) -> ParsedQuery:
    query = ListQuery()
    page: dict[str, int] = {}
    for key, value in items:
        if key == "sort":
            _set_sort(query, value)
            continue
        parts = _split(key)
        if parts is None:
            continue
        head, path = parts
        if head == "page":
            if path not in (["number"], ["size"]):
                raise SuiteError(
                    f'The option "{"][".join(path)}" does not exist. Defined options are: "number", "size".'
                )
            page[path[0]] = _positive(path[0], value)
        elif head == "filter":
            _add_filter(query, path, value)
    page_number, page_size = page.get("number", 0), page.get("size")
    if query.sort is not None and query.sort not in known and query.sort != "id":
        raise SuiteError(f"Sort field {query.sort} in {spec.object_name} module is not found")
    if page_size is not None:
        number = max(page_number, 1)
        query.offset = (number - 1) * page_size
        query.limit = page_size
    return ParsedQuery(query, page_number, page_size, parse_fields(spec, items, known))
