"""Sites and their keys. API keys (`sk_…`) are secret: random high-entropy tokens, stored as
SHA-256 digests. A publishable key (`pk_…`) is the widget's: it sits in the news site's page
for anyone to read, so it is stored as it is and is only good together with an `Origin`
the site allows, for posting a comment."""
import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app, g, request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .errors import Forbidden, Unauthorized
from .tables import Site, SiteKey, utcnow

KEY_PATTERN = re.compile(r"^sk_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
PUBLISHABLE_KEY_PATTERN = re.compile(r"^pk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,43}$")
MAX_ORIGINS = 50
DEFAULT_PORTS = {"http": 80, "https": 443}


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
    compared in constant time. A process trusts an answer for `site_cache_seconds` (so a key
    revoked now may still work that long in a process that looked it up just before), never
    past a key's own `revoked_at`."""
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
    now = utcnow()
    row = session.execute(
        select(SiteKey.digest, SiteKey.revoked_at, Site.id, Site.slug)
        .join(Site)
        .where(SiteKey.prefix == prefix, or_(SiteKey.revoked_at.is_(None), SiteKey.revoked_at > now))
    ).first()
    if row is None:
        return "", None
    answer = (row.digest, SiteRef(row.id, row.slug))
    trusted = current_app.config["SETTINGS"].site_cache_seconds
    if row.revoked_at is not None:  # a key retiring later is trusted no longer than it lives
        trusted = min(trusted, (row.revoked_at - now).total_seconds())
    cache[prefix] = (time.monotonic() + trusted, answer)
    return answer


def authenticated_site(session: Session) -> SiteRef:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized("Send the site API key as 'Authorization: Bearer <key>'.")
    site = authenticate(session, key.strip())
    g.site_slug = site.slug  # for the request's log line and metrics
    return site


def revoke_keys(session: Session, site: Site, keep: str | None = None, at: datetime | None = None) -> int:
    """Revoke every active key of a site except `keep`: now, or from `at` on (a key already
    due to retire sooner keeps its earlier time). Returns how many keys it changed."""
    at = at or utcnow()
    count = 0
    for site_key in site.keys:
        active = site_key.revoked_at is None or site_key.revoked_at > at
        if active and (keep is None or site_key.digest != digest(keep)):
            site_key.revoked_at = at
            count += 1
    return count


def normalize_origin(origin: str) -> str:
    """`https://www.example.co.id` as a browser sends it in `Origin`: scheme and host in lower
    case (an international name in punycode), the port only when it is not the scheme's
    default, no path."""
    try:
        parts = urlsplit(origin.strip())
        port, host = parts.port, (parts.hostname or "").encode("idna").decode("ascii").lower()
    except (AttributeError, ValueError, UnicodeError):
        raise ValueError("An origin looks like https://www.example.co.id.") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not host or parts.username or parts.password \
            or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("An origin looks like https://www.example.co.id (http or https, no path).")
    scheme, host = parts.scheme.lower(), f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[scheme] else "")


def allow_origins(session: Session, site: Site, origins: list[str]) -> list[str]:
    """Set the origins (the news site's own pages) the widget may post from."""
    allowed = list(dict.fromkeys(normalize_origin(origin) for origin in origins))
    if len(allowed) > MAX_ORIGINS:
        raise ValueError(f"At most {MAX_ORIGINS} origins.")
    site.allowed_origins = allowed
    session.flush()
    return allowed


def issue_publishable_key(session: Session, site: Site, origins: list[str], key: str | None = None) -> str:
    """Give the site a new publishable key for the widget (the previous one stops working)
    and the origins it is good from; returns the key."""
    key = key or new_key("pk")
    if not PUBLISHABLE_KEY_PATTERN.match(key):
        raise ValueError("a publishable key looks like pk_<12 hex>_<20-43 url-safe characters>")
    allow_origins(session, site, origins)
    site.publishable_key = key
    session.flush()
    return key


def publishable_site(session: Session, key: str | None, origin: str | None, trusted: tuple[str, ...] = ()) -> SiteRef:
    """The site whose widget may post from `origin` with `key`: one of its allowed origins,
    or one of `trusted` (Saring's own pages). 401 for a bad key, 403 for any other origin."""
    if not PUBLISHABLE_KEY_PATTERN.match(key or ""):
        raise Unauthorized("Send the site's publishable key as 'X-Saring-Key: pk_…'.")
    row = session.execute(select(Site.id, Site.slug, Site.allowed_origins).where(Site.publishable_key == key)).first()
    if row is None:
        raise Unauthorized("This publishable key is not valid.")
    try:
        origin = normalize_origin(origin or "")
    except ValueError:
        raise Forbidden("This page's origin may not post to this site.") from None
    if origin not in (row.allowed_origins or []) and origin not in trusted:
        raise Forbidden("This page's origin may not post to this site.")
    g.site_slug = row.slug  # for the request's log line and metrics
    return SiteRef(row.id, row.slug)


def site_allows_origin(site: Site, origin: str | None) -> bool:
    """Whether the site's widget may be used from `origin` (a CORS preflight's question)."""
    try:
        return normalize_origin(origin or "") in (site.allowed_origins or [])
    except ValueError:
        return False
