"""Routes of this area are added by the module's owner."""

from fastapi import APIRouter

router = APIRouter()
