"""Web console (server-rendered, Portuguese)."""
