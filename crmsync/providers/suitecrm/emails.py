"""Changing the e-mail of an existing SuiteCRM Contact/Account so that it really stores.

SuiteCRM 7.14 keeps addresses in ``email_addresses`` linked to beans through
``email_addr_bean_rel``; ``email1`` is only a view of the primary one. A PATCH of ``email1``
is parsed only when the bean has no address at all (``SugarEmailAddress::handleLegacySave``
→ ``needsToParseLegacyAddresses``), i.e. on create: on a bean that has one, SuiteCRM answers
201 with the old address and keeps it. Checked in the real 7.14.6's code and on the instance.

The route the default install offers through API V8, proven on the real instance:

1. ``GET  /Api/V8/module/{M}/{id}/relationships/email_addresses`` — the linked addresses;
2. ``DELETE .../relationships/email_addresses/{address id}`` for each — the bean has none;
3. ``PATCH /Api/V8/module`` with ``email1`` (and the other changed attributes) — now parsed
   as on create: the new address becomes the primary one (``primary_address = 1``, its
   ``email_address_caps`` set, so filters on ``email1`` find it);
4. ``POST .../relationships/email_addresses`` for each former *alternate* address — linked
   back as non-primary, as they were. The former primary is not linked back.

The PATCH's answer is the record as SuiteCRM stored it (it re-reads the bean), so the caller
compares it with what was sent. A crash between 2 and 3 leaves the record without an address
and the store's value still "changed locally": the next push sends it again (step 3 alone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from crmsync.providers.base import NotFoundError, ProtocolError, ValidationError

API = "/Api/V8"
LINK = "email_addresses"

Send = Callable[..., tuple[httpx.Response, str]]
Document = Callable[[httpx.Response, str], Mapping[str, Any]]


def same_address(a: Any, b: Any) -> bool:
    return str(a or "").strip().lower() == str(b or "").strip().lower()


def linked_addresses(send: Send, document: Document, module: str, bean_id: str) -> list[tuple[str, str]]:
    """(address id, address) of every address linked to the bean."""
    response, desc = send("GET", f"{API}/module/{module}/{bean_id}/relationships/{LINK}")
    data = document(response, desc).get("data")
    if not isinstance(data, list):
        raise ProtocolError("data deveria ser uma lista de endereços de e-mail", request=desc)
    found = []
    for item in data:
        attributes = item.get("attributes") if isinstance(item, Mapping) else None
        if not isinstance(attributes, Mapping) or not isinstance(item.get("id"), str):
            raise ProtocolError("endereço de e-mail sem id ou attributes", request=desc)
        found.append((str(item["id"]), str(attributes.get("email_address") or "")))
    return found


def replace_primary(
    send: Send,
    document: Document,
    module: str,
    bean_id: str,
    attributes: Mapping[str, str],
    old_primary: str,
) -> tuple[httpx.Response, str]:
    """Steps 1-4 above; returns the PATCH's answer. `attributes` holds ``email1`` (empty:
    the e-mail is removed) and any other attribute to change in the same PATCH."""
    new = str(attributes.get("email1") or "").strip()
    links = linked_addresses(send, document, module, bean_id)
    for address_id, _address in links:
        try:
            send("DELETE", f"{API}/module/{module}/{bean_id}/relationships/{LINK}/{address_id}")
        except (NotFoundError, ValidationError) as exc:
            if "not related" not in str(exc):
                raise  # (an earlier try that lost its answer already unlinked it: fine)
    changes = {k: v for k, v in attributes.items() if k != "email1" or new}
    body = {"data": {"type": module, "id": bean_id, "attributes": changes}}
    answer = send("PATCH", f"{API}/module", body=body)
    for address_id, address in links:
        if same_address(address, old_primary) or same_address(address, new):
            continue
        relink = {"data": {"type": "EmailAddresses", "id": address_id}}
        send("POST", f"{API}/module/{module}/{bean_id}/relationships/{LINK}", body=relink, idempotent=True)
    return answer


__all__ = ["linked_addresses", "replace_primary", "same_address"]
