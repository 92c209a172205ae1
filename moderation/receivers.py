"""A site's callback receiver: its URL, checked against SSRF at registration and again at
every delivery, and its signing secrets (encrypted like emails), rotated with an overlap
during which the previous secret signs too."""
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from .audit import record_event
from .errors import InvalidFields
from .policy import site_policy
from .privacy import Vault
from .tables import CallbackSecret, Site, utcnow

SCHEMES = {"http": 80, "https": 443}
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SECRET_PREFIX = "whsec_"
SHOWN = len(SECRET_PREFIX) + 4  # how much of a secret the API may show: enough to tell two apart


class RefusedDestination(ValueError):
    """A callback URL Saring will not call; the message says why (no secret in it)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str  # as the URL spells it: the Host header and TLS server name
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]  # the checked addresses to connect to, in resolver order


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private, link-local,
    multicast, reserved or unspecified, including IPv4 addresses inside IPv6 ones."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in NAT64:
            embedded = ipaddress.IPv4Address(ip.packed[-4:])
        if embedded is not None and not is_public(str(embedded)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_private or ip.is_unspecified)


def resolve_destination(url: str, allow_private: bool = False) -> Destination:
    """Parse and resolve a callback URL, refusing anything but http(s) to public addresses
    (any address, when the site's policy allows private callbacks). A delivery connects to
    the addresses returned here, so DNS cannot change the answer between check and connect."""
    if not isinstance(url, str) or len(url) > 2000:
        raise RefusedDestination("A callback URL is a string of at most 2000 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port or SCHEMES.get(parts.scheme.lower())
    except ValueError:
        raise RefusedDestination("This is not a valid URL.") from None
    if parts.scheme.lower() not in SCHEMES:
        raise RefusedDestination("Only http and https callback URLs are allowed.")
    if not parts.hostname:
        raise RefusedDestination("The URL has no host.")
    if parts.username or parts.password:
        raise RefusedDestination("Put no credentials in the URL: verify the signature instead.")
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise RefusedDestination(f"The host {parts.hostname} does not resolve.") from None
    addresses = tuple(dict.fromkeys(info[4][0] for info in found))
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise RefusedDestination(
                    f"The host {parts.hostname} resolves to {address}, which is not a public address "
                    "(a site's policy may allow private callbacks).")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme.lower(), parts.hostname, port, target, addresses)


def set_callback(session: Session, site: Site, url: str | None, actor: str, vault: Vault | None = None) -> str | None:
    """Register (or with None, remove) a site's callback URL, audited. The first registration
    also creates the signing secret and returns it (shown once); otherwise returns None.
    Raises InvalidFields when the URL is refused. The caller commits."""
    if not url:
        site.callback_url = None
        record_event(session, "callback_url_removed", actor, site_id=site.id)
        return None
    try:
        destination = resolve_destination(url, site_policy(site).allow_private_callbacks)
    except RefusedDestination as error:
        raise InvalidFields("The callback URL is refused.", {"url": str(error)}) from None
    site.callback_url = url.strip()
    record_event(session, "callback_url_set", actor, site_id=site.id, details={"host": destination.host})
    if active_secrets(session, site.id):
        return None
    return rotate_secret(session, site, timedelta(0), actor, vault)


def rotate_secret(session: Session, site: Site, overlap: timedelta, actor: str, vault: Vault | None = None) -> str:
    """Make a new signing secret and return it (shown once, stored encrypted). The previous
    ones keep signing until now + `overlap`. Audited; the caller commits."""
    vault = vault or current_app.extensions["vault"]
    now = utcnow()
    session.execute(delete(CallbackSecret).where(CallbackSecret.site_id == site.id, CallbackSecret.expires_at <= now))
    for previous in active_secrets(session, site.id):
        if previous.expires_at is None or previous.expires_at > now + overlap:
            previous.expires_at = now + overlap
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    session.add(CallbackSecret(site_id=site.id, secret=vault.encrypt(secret), created_at=now))
    record_event(session, "callback_secret_rotated", actor, site_id=site.id,
                 details={"prefix": secret[:SHOWN], "overlap_seconds": int(overlap.total_seconds())})
    return secret


def active_secrets(session: Session, site_id: int) -> list[CallbackSecret]:
    """The secrets that sign now, newest first."""
    return session.scalars(
        select(CallbackSecret)
        .where(CallbackSecret.site_id == site_id,
               or_(CallbackSecret.expires_at.is_(None), CallbackSecret.expires_at > utcnow()))
        .order_by(CallbackSecret.created_at.desc(), CallbackSecret.id.desc())
    ).all()


def signing_secrets(session: Session, site_id: int, vault: Vault | None = None) -> list[str]:
    """The decrypted secrets that sign a delivery now, newest first."""
    vault = vault or current_app.extensions["vault"]
    return [vault.decrypt(row.secret) for row in active_secrets(session, site_id)]


def describe_secrets(session: Session, site_id: int, vault: Vault | None = None) -> list[dict]:
    """What a site may see of its secrets: a prefix to tell them apart, and their expiry."""
    vault = vault or current_app.extensions["vault"]
    return [
        {"prefix": vault.decrypt(row.secret)[:SHOWN], "created_at": row.created_at.isoformat(),
         "expires_at": row.expires_at.isoformat() if row.expires_at else None}
        for row in active_secrets(session, site_id)
    ]
