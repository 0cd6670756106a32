"""Bodies of factory fixtures: what a test makes through them is cleaned up after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import ParamSpec, Protocol, TypeVar


class _Closable(Protocol):
    def close(self) -> None: ...


P = ParamSpec("P")
C = TypeVar("C", bound=_Closable)


def closed_after(make: Callable[P, C]) -> Iterator[Callable[P, C]]:
    """`yield from closed_after(make)`: the fixture gives `make`, and closes everything it made
    at teardown (a provider's HTTP pool, its token store)."""
    made: list[C] = []

    def tracked(*args: P.args, **kwargs: P.kwargs) -> C:
        thing = make(*args, **kwargs)
        made.append(thing)
        return thing

    yield tracked
    for thing in made:
        thing.close()
