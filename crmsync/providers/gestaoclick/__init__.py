"""GestãoClick provider (entry point `gestao_click`)."""

from crmsync.providers.gestaoclick.provider import CreateOutcomeUnknownError, GestaoClickProvider

__all__ = ["CreateOutcomeUnknownError", "GestaoClickProvider"]
