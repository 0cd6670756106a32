"""crmsync on the ERP's own database: the schema map, value converters, inspection, live
checks and change triggers (core side), and mapped-table reads and writes (engine side)."""
