"""Re-export of the field policy type, so config does not import the whole merge core."""

from crmsync.merge import FieldPolicy

__all__ = ["FieldPolicy"]
