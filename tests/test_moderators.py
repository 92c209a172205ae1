"""Moderator accounts: hashed passwords, throttled logins, API tokens, sessions."""
import pytest
from sqlalchemy import select

from moderation import moderators
from moderation.db import transaction
from moderation.errors import RateLimited, Unauthorized
from moderation.moderators import (
    create_moderator, issue_token, log_in, moderator_for_session, moderator_for_token, set_password, site_scope,
)
from moderation.tables import Moderator, ModeratorToken, utcnow

PASSWORD = "correct horse battery"


def try_login(app, username, password, address=None):
    """One login attempt as a request makes it: committed whatever the outcome."""
    with app.test_request_context(), transaction(app.extensions["sessions"]) as session:
        try:
            return log_in(session, username, password, address).username
        except (Unauthorized, RateLimited) as error:
            return error


def test_a_password_is_stored_as_a_scrypt_hash(sessions, site):
    with transaction(sessions) as session:
        moderator = create_moderator(session, "Mira", PASSWORD, "moderator", ["poros-warta"])
        assert moderator.username == "mira" and [s.slug for s in moderator.sites] == ["poros-warta"]
    with sessions() as session:
        stored = session.scalar(select(Moderator))
        assert stored.password_hash.startswith("scrypt:") and PASSWORD not in stored.password_hash


@pytest.mark.parametrize(
    "username, password, role, sites, message",
    [
        ("m", PASSWORD, "moderator", [], "username"),
        ("checks", PASSWORD, "moderator", [], "audit log"),
        ("mira", "short", "moderator", [], "10 characters"),
        ("mira", PASSWORD, "owner", [], "role"),
        ("mira", PASSWORD, "moderator", ["no-such-site"], "no site"),
    ],
)
def test_bad_moderators_are_refused(sessions, site, username, password, role, sites, message):
    with pytest.raises(ValueError, match=message), transaction(sessions) as session:
        create_moderator(session, username, password, role, sites)


def test_a_username_is_taken_once(sessions, make_moderator):
    make_moderator()
    with pytest.raises(ValueError, match="already"), transaction(sessions) as session:
        create_moderator(session, "MIRA", PASSWORD)


def test_login_checks_the_password(app, make_moderator):
    make_moderator()
    assert try_login(app, "mira", PASSWORD) == "mira"
    assert try_login(app, " Mira ", PASSWORD) == "mira"
    assert isinstance(try_login(app, "mira", "wrong password"), Unauthorized)
    assert isinstance(try_login(app, "nobody", PASSWORD), Unauthorized)


def test_an_account_is_locked_after_five_failures_in_a_row(app, sessions, make_moderator):
    make_moderator()
    assert isinstance(try_login(app, "mira", "wrong"), Unauthorized)
    assert try_login(app, "mira", PASSWORD) == "mira"  # a success resets the count
    for _ in range(moderators.FREE_FAILURES):
        assert isinstance(try_login(app, "mira", "wrong"), Unauthorized)
    locked = try_login(app, "mira", PASSWORD)  # even the right password waits
    assert isinstance(locked, RateLimited) and 0 < locked.retry_after <= 60
    with transaction(sessions) as session:
        session.scalar(select(Moderator)).locked_until = utcnow()
    assert try_login(app, "mira", PASSWORD) == "mira"


def test_an_address_that_fails_too_often_waits(app, make_moderator, monkeypatch):
    make_moderator()
    monkeypatch.setattr(moderators, "ADDRESS_FAILURES", 3)
    for username in ("ana", "budi", "citra"):  # password spraying over several accounts
        assert isinstance(try_login(app, username, "guess", address="ip-1"), Unauthorized)
    assert isinstance(try_login(app, "mira", PASSWORD, address="ip-1"), RateLimited)
    assert try_login(app, "mira", PASSWORD, address="ip-2") == "mira"


def test_a_deactivated_moderator_cannot_log_in(app, sessions, make_moderator):
    make_moderator()
    with transaction(sessions) as session:
        session.scalar(select(Moderator)).is_active = False
    assert isinstance(try_login(app, "mira", PASSWORD), Unauthorized)


def test_a_new_password_ends_old_sessions(sessions, make_moderator):
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        moderator = session.get(Moderator, moderator_id)
        remembered = [moderator.id, moderator.session_version]
        assert moderator_for_session(session, remembered) is moderator
        set_password(moderator, "another long password")
    with sessions() as session:
        assert moderator_for_session(session, remembered) is None
        assert moderator_for_session(session, "garbage") is None


def test_tokens_authenticate_until_revoked(sessions, make_moderator):
    moderator_id = make_moderator()
    with transaction(sessions) as session:
        token = issue_token(session, session.get(Moderator, moderator_id), "cli")
    assert token.startswith("mt_")
    with sessions() as session:
        assert moderator_for_token(session, token).id == moderator_id
        stored = session.scalar(select(ModeratorToken))
        assert token not in (stored.digest, stored.prefix)
        for bad in ("", "sk_0123456789ab_" + "x" * 30, token[:-1] + ("A" if token[-1] != "A" else "B")):
            with pytest.raises(Unauthorized):
                moderator_for_token(session, bad)
    with transaction(sessions) as session:
        session.scalar(select(ModeratorToken)).revoked_at = utcnow()
    with sessions() as session, pytest.raises(Unauthorized):
        moderator_for_token(session, token)


def test_admins_see_every_site(sessions, make_moderator):
    moderator_id, admin_id = make_moderator(), make_moderator("ayu", role="admin", sites=())
    with sessions() as session:
        assert len(site_scope(session.get(Moderator, moderator_id))) == 1
        assert site_scope(session.get(Moderator, admin_id)) is None
