"""Sync engine: push, pull, sync, deletes and conflicts over the pure cores."""
