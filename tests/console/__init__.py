"""Web console tests (HTTP and real-browser)."""
