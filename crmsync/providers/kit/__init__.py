"""The provider kit: what every HTTP provider shares (see ``http_provider`` for the override
points, ``paginators`` for the paginator protocol, ``webhooks`` for signatures).

docs/providers.md walks through writing a provider on it, with SuiteCRM as the example.
"""

from crmsync.providers.kit.http_provider import HttpProvider, MappingFailure
from crmsync.providers.kit.paginators import PageAnswer, PageNumberPaginator, PageRequest, Paginator

__all__ = ["HttpProvider", "MappingFailure", "PageAnswer", "PageNumberPaginator", "PageRequest", "Paginator"]
