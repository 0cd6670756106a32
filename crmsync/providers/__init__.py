"""Provider adapters (one per external CRM/ERP) and their shared protocol."""
