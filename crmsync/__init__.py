"""crmsync: two-way sync between a local ERP database and external CRMs."""

__version__ = "0.1.0"
