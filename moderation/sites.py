"""Sites and their API keys: random high-entropy tokens, stored as SHA-256 digests."""
import hashlib
import hmac
import re
import secrets
import time
from typing import NamedTuple

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import Unauthorized
from .tables import Site, SiteKey, utcnow

KEY_PATTERN = re.compile(r"^sk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class SiteRef(NamedTuple):
    id: int
    slug: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(kind: str = "sk") -> str:
    """A random token `<kind>_<12 hex: the public lookup prefix>_<secret>`."""
    return f"{kind}_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def create_site(session: Session, slug: str, name: str, key: str | None = None) -> tuple[Site, str]:
    """Create a site and its first API key; returns the key (shown once, stored hashed)."""
    if not SLUG_PATTERN.match(slug):
        raise ValueError("a site slug is 1-63 lowercase letters, digits and dashes")
    site = Site(slug=slug, name=name)
    session.add(site)
    session.flush()
    return site, add_key(session, site, key)


def add_key(session: Session, site: Site, key: str | None = None) -> str:
    key = key or new_key()
    match = KEY_PATTERN.match(key)
    if not match:
        raise ValueError("an API key looks like sk_<12 hex>_<at least 20 url-safe characters>")
    session.add(SiteKey(site_id=site.id, prefix=match.group(1), digest=digest(key)))
    return key


def find_site(session: Session, slug: str) -> Site | None:
    return session.scalar(select(Site).where(Site.slug == slug))


def authenticate(session: Session, key: str) -> SiteRef:
    """The site a key belongs to: looked up by the key's public prefix, then its digest
    compared in constant time. A process trusts an answer for `site_cache_seconds`."""
    match = KEY_PATTERN.match(key or "")
    if not match:
        raise Unauthorized("Send a valid site API key as 'Authorization: Bearer <key>'.")
    known_digest, site = _lookup_key(session, match.group(1))
    if site is None or not hmac.compare_digest(known_digest, digest(key)):
        raise Unauthorized("This API key is not valid.")
    return site


def _lookup_key(session: Session, prefix: str) -> tuple[str, SiteRef | None]:
    cache = current_app.extensions.setdefault("site_keys", {})
    cached = cache.get(prefix)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    row = session.execute(
        select(SiteKey.digest, Site.id, Site.slug)
        .join(Site)
        .where(SiteKey.prefix == prefix, SiteKey.revoked_at.is_(None))
    ).first()
    if row is None:
        return "", None
    answer = (row.digest, SiteRef(row.id, row.slug))
    cache[prefix] = (time.monotonic() + current_app.config["SETTINGS"].site_cache_seconds, answer)
    return answer


def authenticated_site(session: Session) -> SiteRef:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Send the site API key as 'Authorization: Bearer <key>'.")
    return authenticate(session, key.strip())


def revoke_keys(session: Session, site: Site, keep: str | None = None) -> int:
    """Revoke every active key of a site except `keep`."""
    count = 0
    for site_key in site.keys:
        if site_key.revoked_at is None and (keep is None or site_key.digest != digest(keep)):
            site_key.revoked_at = utcnow()
            count += 1
    return count
