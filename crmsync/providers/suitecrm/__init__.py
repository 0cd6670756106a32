"""SuiteCRM provider (entry point `suitecrm`)."""

from crmsync.providers.suitecrm.provider import SuiteCrmOptions, SuiteCrmProvider

__all__ = ["SuiteCrmOptions", "SuiteCrmProvider"]
