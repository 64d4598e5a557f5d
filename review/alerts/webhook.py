"""Posting an alert to a webhook: signed, only to the addresses checked, never redirected.

The address is checked when the rule is saved and again on every attempt, and the connection
goes to the very addresses checked, so a name that resolves elsewhere later (DNS rebinding)
cannot turn a webhook against the machines around Tracewatch.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Tracewatch-Signature"
TIMESTAMP_HEADER = "X-Tracewatch-Timestamp"
# Enough of a receiver's answer to read its status line; the rest is not read.
_MAX_ANSWER_BYTES = 4096


class WebhookRefused(ValueError):
    """A URL alerts are never sent to: waiting does not change that."""


def sign(body: bytes, secret: str) -> str:
    """The signature header's value: HMAC-SHA256 of the exact body, keyed by the rule's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_private: bool) -> list[str]:
    """The addresses a webhook URL may be sent to.

    Raises ``WebhookRefused`` for anything but http(s), and for a host with any private,
    loopback, link-local or reserved address unless ``allow_private``; ``OSError`` when the
    name does not resolve (which may pass)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise WebhookRefused("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise WebhookRefused("The URL names no host.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookRefused("The URL's port is not a number from 0 to 65535.") from None
    infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not allow_private:
        for address in addresses:
            if not _is_public(address):
                raise WebhookRefused(
                    f"{parts.hostname} is a private, loopback or reserved address ({address}); "
                    "set TRACEWATCH_ALERTS_ALLOW_PRIVATE to allow it."
                )
    return addresses


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.addresses = addresses

    def connect(self) -> None:
        sock = _connect(self.addresses, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool
) -> int:
    """POST ``body`` to ``url`` and return the answer's status code (a redirect is an answer,
    never followed). Raises ``WebhookRefused``, or ``OSError`` / ``http.client.HTTPException``
    for network failures."""
    addresses = resolve(url, allow_private=allow_private)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    connection = (_PinnedHTTPS if https else _PinnedHTTP)(
        parts.hostname or "", port, addresses, timeout
    )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    try:
        connection.request("POST", path, body=body, headers=headers)
        answer = connection.getresponse()
        answer.read(_MAX_ANSWER_BYTES)
        return answer.status
    finally:
        connection.close()
