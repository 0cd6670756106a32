"""End-to-end tests of the spec's practical cases (section 7) and conflict types (section 4.1)."""
