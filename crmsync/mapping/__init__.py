"""Normalisers and the mapping between local rows and canonical records."""
