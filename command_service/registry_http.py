"""One HTTP exchange with a container registry, on the image check's terms.

The image check is the one place where the service sends a request somewhere a client named.
Each exchange here therefore:
- resolves the host itself and refuses private, loopback, link-local and other non-public
  addresses unless the operator listed the registry (`Origin.private_ok`), and then connects to
  the very address it checked, so a second DNS answer cannot swap it (DNS rebinding);
- speaks TLS with the host's name checked against its certificate, unless the origin is plain
  HTTP (only for a registry the operator listed with an http:// URL);
- has one deadline for everything, resolving, connecting, TLS, sending and every read, which a
  server trickling one byte at a time cannot stretch (a per-read timeout would restart on each);
- reads at most `limit` bytes of answer, status line and headers included;
- never follows a redirect: the status is the caller's to judge.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.message import Message

import certifi

# The CA bundle requests used for the image check before, so the same registries verify.
_TLS = ssl.create_default_context(cafile=certifi.where())

# NAT64 (RFC 6052) forwards these to the IPv4 address in their last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class Unreachable(Exception):
    """No usable answer within the limits: DNS, connection, TLS, deadline, size, or not HTTP."""


class AddressRefused(Exception):
    """The host resolves to an address this origin may not be reached at."""


@dataclass(frozen=True)
class Origin:
    scheme: str  # "https", or "http" for a registry listed as such
    host: str  # a DNS name or an IP address, without brackets
    port: int
    private_ok: bool  # listed by the operator: may sit on a private or loopback address

    @property
    def authority(self) -> str:
        """`host[:port]` as the Host header and image names write it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Reachable on the internet at large: not private, loopback, link-local, shared, reserved or
    multicast, also when written as IPv6 that carries an IPv4 address (mapped, 6to4, NAT64)."""
    if address.version == 6:
        if address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        else:
            address = address.ipv4_mapped or address.sixtofour or address
    return address.is_global and not address.is_multicast


def exchange(
    origin: Origin, method: str, target: str, headers: dict[str, str], *, deadline: float, limit: int
) -> Answer:
    """`method target` at `origin`; `deadline` on the `time.monotonic()` clock."""
    request = _request_bytes(origin, method, target, headers)
    addresses = _resolve(origin, deadline)
    if not origin.private_ok and not all(is_public(ipaddress.ip_address(a[4][0])) for a in addresses):
        raise AddressRefused(f"{origin.host} resolves to a non-public address")
    try:
        sock = _connect(addresses, deadline)
        try:
            if origin.scheme == "https":
                sock.settimeout(_remaining(deadline))  # bounds the whole handshake
                sock = _TLS.wrap_socket(sock, server_hostname=origin.host)
            sock.settimeout(_remaining(deadline))  # sendall: a bound for the whole send
            sock.sendall(request)
            response = http.client.HTTPResponse(_Bounded(sock, deadline, limit), method=method)
            response.begin()
            body = response.read()
            return Answer(response.status, response.msg, body)
        finally:
            sock.close()
    except (OSError, http.client.HTTPException, _TooLarge) as error:
        raise Unreachable(f"{origin.authority}: {type(error).__name__}: {error}") from None


def _request_bytes(origin: Origin, method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {origin.authority}",
        "User-Agent: eosc-perf image check",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    text = "\r\n".join(lines) + "\r\n\r\n"
    # Every part is built from checked names, but a CR or LF would start a header of its own.
    if any(ord(c) < 0x20 or ord(c) > 0x7E for line in lines for c in line):
        raise ValueError(f"not a safe request line or header: {lines!r}")
    return text.encode("ascii")


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the image check's deadline has passed")
    return left


def _resolve(origin: Origin, deadline: float) -> list[tuple]:
    """getaddrinfo's answers. The resolver has no timeout of its own to pass, so it runs in a
    thread the deadline stops waiting for (a hung lookup then ends by the system's timeouts)."""
    found: dict[str, object] = {}

    def lookup() -> None:
        try:
            found["addresses"] = socket.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:  # UnicodeError: a name IDNA cannot encode
            found["error"] = error

    resolver = threading.Thread(target=lookup, name="image-check-resolver", daemon=True)
    resolver.start()
    resolver.join(max(0.0, deadline - time.monotonic()))
    addresses = found.get("addresses")
    if not addresses:
        raise Unreachable(f"{origin.host}: {found.get('error') or 'no address in time'}")
    return addresses


def _connect(addresses: list[tuple], deadline: float) -> socket.socket:
    failure: OSError = OSError("no address")
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_remaining(deadline))
            sock.connect(address)
            return sock
        except OSError as error:
            sock.close()
            failure = error
    raise failure


class _TooLarge(Exception):
    pass


class _Bounded:
    """What http.client.HTTPResponse reads from: the socket under the deadline and the size cap."""

    def __init__(self, sock: socket.socket, deadline: float, limit: int):
        self._raw = _BoundedReader(sock, deadline, limit)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(self._raw)


class _BoundedReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float, limit: int):
        self._sock = sock
        self._deadline = deadline
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(_remaining(self._deadline))  # what is left, not a fresh timeout per read
        # One byte past the cap is enough to know the answer is too large.
        count = self._sock.recv_into(buffer, min(len(buffer), self._left + 1))
        self._left -= count
        if self._left < 0:
            raise _TooLarge("the answer is larger than the image check reads")
        return count
