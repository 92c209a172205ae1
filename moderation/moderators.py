"""Moderators: accounts (scrypt password hashes), login throttling, API tokens, and the
sites each may see."""
import hmac
import re
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .errors import RateLimited, Unauthorized
from .jobs import REDIS_DOWN
from .sites import digest, new_key
from .tables import ROLES, Moderator, ModeratorToken, Site, utcnow

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TOKEN_PATTERN = re.compile(r"^mt_([0-9a-f]{12})_[A-Za-z0-9_-]{20,}$")
RESERVED_NAMES = {"checks", "sweeper", "system", "saring"}  # actors of automated audit events
MIN_PASSWORD = 10
FREE_FAILURES = 5  # failed logins in a row before an account is locked
FIRST_LOCK = timedelta(minutes=1)  # doubled for each further failure
LONGEST_LOCK = timedelta(hours=1)
ADDRESS_FAILURES = 20  # failed logins from one address within ADDRESS_WINDOW before it waits
ADDRESS_WINDOW = 15 * 60
# Checked against when a username does not exist, so a miss takes as long as a wrong password.
UNKNOWN_USER_HASH = generate_password_hash("no such moderator", method="scrypt")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: a password has at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


def create_moderator(
    session: Session, username: str, password: str, role: str = "moderator", site_slugs: list[str] = ()
) -> Moderator:
    """Create a moderator with access to the named sites (admins see every site). Raises
    ValueError naming the field at fault as `field: message`."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username):
        raise ValueError("username: 2-64 lowercase letters, digits, dots, dashes or underscores")
    if username in RESERVED_NAMES:
        raise ValueError(f"username: {username!r} names the service itself in the audit log")
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    if session.scalar(select(Moderator.id).where(Moderator.username == username)):
        raise ValueError(f"username: there is already a moderator called {username!r}")
    moderator = Moderator(username=username, password_hash=hash_password(password), role=role,
                          sites=find_sites(session, site_slugs))
    session.add(moderator)
    session.flush()
    return moderator


def find_sites(session: Session, slugs) -> list[Site]:
    slugs = sorted(set(slugs))
    sites = session.scalars(select(Site).where(Site.slug.in_(slugs))).all() if slugs else []
    unknown = set(slugs) - {site.slug for site in sites}
    if unknown:
        raise ValueError(f"sites: no site {', '.join(sorted(unknown))}")
    return list(sites)


def site_scope(moderator: Moderator) -> list[int] | None:
    """The ids of the sites a moderator may see; None means every site (an admin)."""
    return None if moderator.is_admin else [site.id for site in moderator.sites]


def log_in(session: Session, username: str, password: str, address: str | None = None) -> Moderator:
    """The moderator these credentials name, or Unauthorized. Throttled twice over: an account
    is locked for a while after FREE_FAILURES wrong passwords in a row (in the database, so
    every web process agrees), and an address that fails too often waits (in Redis; while
    Redis is down only the account lock applies). The caller commits."""
    throttle_address(address)
    moderator = session.scalar(select(Moderator).where(Moderator.username == (username or "").strip().lower()))
    now = utcnow()
    if moderator is not None and moderator.locked_until and moderator.locked_until > now:
        raise RateLimited("Too many failed logins. Try again later.", (moderator.locked_until - now).total_seconds())
    known_hash = moderator.password_hash if moderator is not None else UNKNOWN_USER_HASH
    if not check_password_hash(known_hash, password or "") or moderator is None or not moderator.is_active:
        if moderator is not None:
            moderator.failed_logins += 1
            if moderator.failed_logins >= FREE_FAILURES:
                moderator.locked_until = now + min(FIRST_LOCK * 2 ** (moderator.failed_logins - FREE_FAILURES),
                                                   LONGEST_LOCK)
        count_address_failure(address)
        raise Unauthorized("Wrong username or password.")
    moderator.failed_logins, moderator.locked_until = 0, None
    return moderator


def address_key(address: str | None) -> str | None:
    return f"saring:login-failures:{address}" if address else None


def throttle_address(address: str | None) -> None:
    key = address_key(address)
    if key is None:
        return
    try:
        redis = current_app.extensions["redis"]
        failures, ttl = int(redis.get(key) or 0), redis.ttl(key)
    except REDIS_DOWN:  # the account lock still holds
        return
    if failures >= ADDRESS_FAILURES:
        raise RateLimited("Too many failed logins from this address. Try again later.", max(ttl, 1))


def count_address_failure(address: str | None) -> None:
    key = address_key(address)
    if key is None:
        return
    try:
        with current_app.extensions["redis"].pipeline(transaction=False) as pipe:
            pipe.set(key, 0, ex=ADDRESS_WINDOW, nx=True).incr(key).execute()  # the window starts at the first failure
    except REDIS_DOWN:
        return


def change_moderator(session: Session, moderator: Moderator, *, role: str | None = None,
                     site_slugs: list[str] | None = None, is_active: bool | None = None,
                     password: str | None = None) -> dict:
    """Change a moderator's role, sites, state or password; returns what changed, for the
    audit log (a password only as `password_changed`). The last active admin stays one.
    Raises ValueError naming the field at fault as `field: message`."""
    role = role or moderator.role
    active = moderator.is_active if is_active is None else is_active
    if role not in ROLES:
        raise ValueError(f"role: one of {', '.join(ROLES)}")
    if moderator.is_admin and moderator.is_active and not (role == "admin" and active):
        others = select(func.count()).select_from(Moderator).where(
            Moderator.role == "admin", Moderator.is_active.is_(True), Moderator.id != moderator.id)
        if not session.scalar(others):
            raise ValueError(f"{'role' if role != 'admin' else 'is_active'}: the last active admin must stay one")
    changed = {}
    if role != moderator.role:
        moderator.role = changed["role"] = role
    if active != moderator.is_active:
        moderator.is_active = changed["is_active"] = active
    if site_slugs is not None:
        sites = find_sites(session, site_slugs)
        if [site.slug for site in sites] != [site.slug for site in moderator.sites]:
            moderator.sites = sites
            changed["sites"] = [site.slug for site in sites]
    if password is not None:
        set_password(moderator, password)
        changed["password_changed"] = True
    if "is_active" in changed or "role" in changed:
        moderator.session_version += 1  # a deactivated or demoted moderator's sessions end now
    return changed


def set_password(moderator: Moderator, password: str) -> None:
    """A new password ends every session the moderator had."""
    moderator.password_hash = hash_password(password)
    moderator.session_version += 1
    moderator.failed_logins, moderator.locked_until = 0, None


def issue_token(session: Session, moderator: Moderator, name: str | None = None) -> str:
    """A new API token for /api/v1/moderation; returned once, stored as a digest."""
    token = new_key("mt")
    session.add(ModeratorToken(moderator_id=moderator.id, prefix=TOKEN_PATTERN.match(token).group(1),
                               digest=digest(token), name=name))
    return token


def moderator_for_token(session: Session, token: str) -> Moderator:
    match = TOKEN_PATTERN.match(token or "")
    if not match:
        raise Unauthorized("Send a moderator API token as 'Authorization: Bearer mt_…'.")
    row = session.scalar(
        select(ModeratorToken).where(ModeratorToken.prefix == match.group(1), ModeratorToken.revoked_at.is_(None))
    )
    if row is None or not hmac.compare_digest(row.digest, digest(token)) or not row.moderator.is_active:
        raise Unauthorized("This moderator token is not valid.")
    return row.moderator


def moderator_for_session(session: Session, remembered) -> Moderator | None:
    """The moderator a login cookie names ([id, session version]), if still valid."""
    if not isinstance(remembered, list) or len(remembered) != 2:
        return None
    moderator = session.get(Moderator, remembered[0]) if isinstance(remembered[0], int) else None
    if moderator is None or not moderator.is_active or moderator.session_version != remembered[1]:
        return None
    return moderator
