"""SSRF guard for webhook URLs (OWASP API7): resolve once, check every address, connect to it.

Refused unless allow-listed (`WEBHOOK_ALLOWED_HOSTS`: host names or CIDRs): anything that is not
a global unicast address (loopback, link-local and cloud metadata, private, shared, reserved,
unspecified), multicast, and the platform's own addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from oncallnova.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(InvalidInput):
    """The URL may not be called."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """`"hooks.internal, 10.0.0.0/8, 127.0.0.1"` → host names and networks."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(normal_host(item))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return normal_host(host) in self.hosts or any(address in n for n in self.networks)


def normal_host(host: str) -> str:
    """Lower case, without brackets or the root's trailing dot (`localhost.` is `localhost`)."""
    return host.strip("[]").rstrip(".").lower()


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect, and what to say in Host and SNI."""

    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str  # path + query

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the name (no second resolution)."""
        ip = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{ip}:{self.port}{self.path}"


def parse_url(url: str, field: str) -> tuple[str, str, int, str]:
    """Scheme, host, port and path of an http(s) URL, or InvalidInput naming `field`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise InvalidInput(f"not a valid URL: {error}", field=field) from error
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("the URL must start with http:// or https://", field=field)
    if not parts.hostname:
        raise InvalidInput("the URL has no host", field=field)
    if parts.username or parts.password:
        raise InvalidInput("credentials in the URL are not allowed", field=field)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def forbidden_reason(address: IPAddress, own: Iterable[IPAddress] = ()) -> str | None:
    """Why `address` may not be reached, or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_private:
        return "is a private address"
    if not address.is_global:
        return "is not a public address"
    if address in set(own):
        return "is one of the platform's own addresses"
    return None


def own_addresses() -> set[IPAddress]:
    """Addresses of this machine's interfaces, as far as the host name resolves them."""
    found: set[IPAddress] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
    except OSError:
        pass
    return found


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the name resolves to (a literal IP resolves to itself)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def resolve_checked(
    url: str, allow: AllowList, *, field: str = "url", own: Iterable[IPAddress] = ()
) -> Target:
    """Resolve the URL's host once and check every address; the first is where to connect.

    Every address must pass, so a name that resolves to a public and a private address (or
    changes between check and use, DNS rebinding) cannot slip through."""
    scheme, host, port, path = parse_url(url, field)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError) as error:
        raise Refused(f"the host {host!r} does not resolve", field=field) from error
    if not addresses:
        raise Refused(f"the host {host!r} does not resolve", field=field)
    own = set(own)
    for address in addresses:
        reason = forbidden_reason(address, own)
        if reason and not allow.allows(host, address):
            raise Refused(
                f"{host} resolves to {address}, which {reason}; "
                "allow it with WEBHOOK_ALLOWED_HOSTS if it is meant",
                field=field,
            )
    return Target(scheme, normal_host(host), port, addresses[0], path)
