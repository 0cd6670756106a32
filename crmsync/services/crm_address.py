"""Where a CRM may live: not in link-local space (issue #20).

169.254.0.0/16 and fe80::/10 hold cloud metadata services (169.254.169.254 answers with the
machine's credentials on most clouds) and nothing a store would call its CRM. A base URL
there is refused unless ``CRMSYNC_ALLOW_LINK_LOCAL_CRM`` says otherwise. Loopback stays
allowed: the sandboxes and tests run there.

The host is checked as written and as resolved (``getaddrinfo``), so neither a name that
points there nor another spelling of the address (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``,
``[::ffff:169.254.169.254]``) gets through. A name that does not resolve now is accepted: an
unreachable CRM is reported by the connection test and the sync, not here.
"""

from __future__ import annotations

import ipaddress
import socket

from crmsync.services.errors import InvalidInputError
from crmsync.settings import get_settings

REFUSED = (
    "endereço link-local (169.254.0.0/16 ou fe80::/10, usado por serviços de metadados da nuvem) "
    "não é aceito como CRM; defina CRMSYNC_ALLOW_LINK_LOCAL_CRM=true se for mesmo o caso"
)


def _link_local(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone is not part of it
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local


def _addresses(host: str) -> set[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return set()
    return {str(info[4][0]) for info in infos}


def check_crm_host(host: str) -> None:
    """Raise InvalidInputError (field `base_url`) when `host` is or resolves to a link-local
    address and the setting does not allow it."""
    if get_settings().allow_link_local_crm:
        return
    if _link_local(host) or any(_link_local(a) for a in _addresses(host)):
        raise InvalidInputError(REFUSED, ("base_url",))
