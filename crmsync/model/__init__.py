"""Canonical records: the one normalised shape both sides are compared in."""

from crmsync.model.canonical import (
    CANONICAL_MODELS,
    ENTITY_TYPES,
    ClienteCanon,
    ItemVendaCanon,
    ProdutoCanon,
    VendaCanon,
    canonical_hash,
    canonicalize,
)

__all__ = [
    "CANONICAL_MODELS",
    "ENTITY_TYPES",
    "ClienteCanon",
    "ItemVendaCanon",
    "ProdutoCanon",
    "VendaCanon",
    "canonical_hash",
    "canonicalize",
]
