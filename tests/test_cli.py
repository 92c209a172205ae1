"""The operator commands, run through Flask's CLI runner against the real database: each says
what it does, and the key rotations keep the service working through the real API."""
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from moderation import create_app
from moderation.db import transaction
from moderation.privacy import Vault
from moderation.receivers import rotate_secret, signing_secrets
from moderation.sites import find_site
from moderation.tables import AuditEvent, Ban, CallbackSecret, Comment, SiteKey, utcnow

BUDI, ANI = "budi.santoso@example.co.id", "ani@example.id"


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def post(client, key, payload):
    return client.post("/api/v1/comments", json=payload, headers={"Authorization": f"Bearer {key}"})


def rows(app, table, *columns) -> dict:
    """Each row's `columns`, by id: what a rotation may change."""
    with app.extensions["sessions"]() as session:
        return {row[0]: tuple(row[1:]) for row in session.execute(select(table.id, *columns))}


@pytest.mark.parametrize("command, says", [
    ("create-site", "Create a site and print its"),
    ("rotate-site-key", "Issue a new API key for a site"),
    ("create-moderator", "Create a moderator"),
    ("sweep", "enqueue pending comments"),
    ("purge", "Purge user agents"),
    ("rotate-email-key", "Re-encrypt every stored email address"),
    ("rotate-fingerprint-key", "Recompute every email fingerprint"),
])
def test_every_command_says_what_it_does(app, command, says):
    result = invoke(app, command, "--help")
    assert result.exit_code == 0, result.output
    assert says in " ".join(result.output.split()) and "Usage: " in result.output


def test_a_rotated_site_key_works_at_once_and_the_old_one_until_the_overlap_ends(app, client, site, comment_payload):
    result = invoke(app, "rotate-site-key", site["slug"], "--keep-old-for", "3s")
    assert result.exit_code == 0, result.output
    new_key = result.stdout.strip()
    assert new_key.startswith("sk_") and new_key != site["key"] and "stop working at" in result.stderr
    assert post(client, new_key, comment_payload(content="Dengan kunci baru.")).status_code == 202
    assert post(client, site["key"], comment_payload(content="Dengan kunci lama.")).status_code == 202
    with app.extensions["sessions"]() as session:
        ends = session.scalar(select(SiteKey.revoked_at).where(SiteKey.revoked_at.is_not(None)))
    time.sleep(max(0.0, (ends - utcnow()).total_seconds()) + 0.1)  # a process trusts a key no longer than it lives
    assert post(client, site["key"], comment_payload(content="Terlambat.")).status_code == 401
    assert post(client, new_key, comment_payload(content="Masih bisa.")).status_code == 202
    with app.extensions["sessions"]() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "site_key_rotated")).all()
    assert event.actor == "cli" and event.details["old_keys"] == 1
    assert new_key.split("_", 2)[2] not in str(event.details), "the secret part of the key was audited"


def test_revoke_old_stops_the_old_key_at_once_where_it_was_not_cached(app, client, site, settings, comment_payload):
    assert post(client, site["key"], comment_payload(content="Sebelum rotasi.")).status_code == 202  # now cached
    result = invoke(app, "rotate-site-key", site["slug"], "--revoke-old")
    assert result.exit_code == 0, result.output
    new_key = result.stdout.strip()
    other = create_app(settings).test_client()  # another web process: nothing cached
    assert post(other, site["key"], comment_payload(content="Kunci bocor.")).status_code == 401
    assert post(other, new_key, comment_payload(content="Kunci baru.")).status_code == 202
    # as --help says: a process that looked the key up just before trusts it site_cache_seconds more
    assert post(client, site["key"], comment_payload(content="Masih dipercaya.")).status_code == 202


@pytest.mark.parametrize("args", [[], ["--revoke-old", "--keep-old-for", "1h"], ["--keep-old-for", "soon"]])
def test_rotate_site_key_needs_one_clear_choice(app, site, args):
    result = invoke(app, "rotate-site-key", site["slug"], *args)
    assert result.exit_code == 2 and "sk_" not in result.output
    assert invoke(app, "rotate-site-key", "no-such-site", "--revoke-old").exit_code == 1


# -- rotate-email-key ---------------------------------------------------------------------------


def test_rotate_email_key_reencrypts_everything_for_the_new_key_alone(app, client, site, settings, comment_payload):
    for content, email in (("Komentar pertama.", BUDI), ("Komentar kedua.", BUDI), ("Dari Ani.", ANI)):
        assert post(client, site["key"], comment_payload(content=content, author_email=email)).status_code == 202
    with transaction(app.extensions["sessions"]) as session:
        secret = rotate_secret(session, find_site(session, site["slug"]), timedelta(0), "tests",
                               app.extensions["vault"])
    new_key = Fernet.generate_key().decode()
    both = create_app(replace(settings, email_keys=(new_key, *settings.email_keys)))  # the new key first

    before = rows(app, Comment, Comment.author_email) | rows(app, CallbackSecret, CallbackSecret.secret)
    dry = invoke(both, "rotate-email-key", "--dry-run")
    assert dry.exit_code == 0 and "comments.author_email: 3 checked, 3 would be re-encrypted" in dry.output
    assert rows(app, Comment, Comment.author_email) | rows(app, CallbackSecret, CallbackSecret.secret) == before

    result = invoke(both, "rotate-email-key", "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "comments.author_email: 3 checked, 3 re-encrypted, 0 undecryptable" in result.output
    assert "callback_secrets.secret: 1 checked, 1 re-encrypted, 0 undecryptable" in result.output

    only_new = create_app(replace(settings, email_keys=(new_key,)))
    exported = post_export(only_new.test_client(), site, BUDI)
    assert sorted(c["content"] for c in exported["comments"]) == ["Komentar kedua.", "Komentar pertama."]
    assert {c["author_email"] for c in exported["comments"]} == {BUDI}
    with only_new.app_context(), only_new.extensions["sessions"]() as session:
        assert signing_secrets(session, find_site(session, site["slug"]).id, only_new.extensions["vault"]) == [secret]

    after = rows(app, Comment, Comment.author_email) | rows(app, CallbackSecret, CallbackSecret.secret)
    again = invoke(both, "rotate-email-key")
    assert again.exit_code == 0 and "comments.author_email: 3 checked, 0 re-encrypted" in again.output
    assert rows(app, Comment, Comment.author_email) | rows(app, CallbackSecret, CallbackSecret.secret) == after


def test_a_value_no_key_decrypts_is_named_by_row_never_shown(app, client, site, settings, comment_payload):
    assert post(client, site["key"], comment_payload()).status_code == 202
    stranger = Vault((Fernet.generate_key().decode(),), settings.fingerprint_key)
    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment))
        comment.author_email, lost = stranger.encrypt("hilang@example.id"), comment.id
    new_key = Fernet.generate_key().decode()
    result = invoke(create_app(replace(settings, email_keys=(new_key, *settings.email_keys))), "rotate-email-key")
    assert result.exit_code == 1
    assert f"comments row {lost}: no configured key decrypts its author_email" in result.stderr
    assert "hilang" not in result.output and "keep the old keys" in result.stderr


def post_export(client, site, email) -> dict:
    response = client.post("/api/v1/authors/export", json={"email": email}, headers=site["auth"])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- rotate-fingerprint-key ---------------------------------------------------------------------


def test_rotate_fingerprint_key_keeps_bans_duplicates_and_history(app, client, site, settings, comment_payload,
                                                                  make_moderator, token_for):
    ids = [post(client, site["key"], comment_payload(content=content, author_email=email)).get_json()["id"]
           for content, email in (("Komentar pertama.", BUDI), ("Komentar kedua.", BUDI), ("Dari Ani.", ANI))]
    make_moderator("mira")
    mira = token_for("mira")
    banned = client.post(f"/api/v1/moderation/comments/{ids[1]}/actions", headers=mira,
                         json={"action": "ban", "reason": "toxic"})
    assert banned.status_code == 200, banned.get_json()
    with transaction(app.extensions["sessions"]) as session:  # an author whose comments are all gone
        comment = session.scalar(select(Comment).where(Comment.public_id == ids[0]))
        session.add(Ban(site_id=comment.site_id, author_fingerprint="0" * 64, created_by="mira"))
    rotated = create_app(replace(settings, fingerprint_key="the-new-fingerprint-key"))
    after = rotated.test_client()
    # the window between the new key and the command: Ani's same text again gets in
    assert post(after, site["key"], comment_payload(content="Dari Ani.", author_email=ANI)).status_code == 202

    before = rows(app, Comment, Comment.author_fingerprint, Comment.content_digest)
    dry = invoke(rotated, "rotate-fingerprint-key", "--dry-run", "--batch", "1")
    assert dry.exit_code == 0 and "4 checked, 3 would be recomputed" in dry.output and "1 would be mapped" in dry.output
    assert rows(app, Comment, Comment.author_fingerprint, Comment.content_digest) == before

    result = invoke(rotated, "rotate-fingerprint-key", "--batch", "1")  # a batch per comment
    assert result.exit_code == 0, result.output
    assert "comments: 4 checked, 3 recomputed" in result.output and "1 duplicates released" in result.output
    assert "bans: 1 mapped, 1 without a comment" in result.output and "site poros-warta, by mira" in result.output

    refused = post(after, site["key"], comment_payload(content="Saya kembali.", author_email=BUDI))
    assert refused.status_code == 403 and refused.get_json()["error"] == "author_banned"
    duplicate = post(after, site["key"], comment_payload(content="Dari Ani.", author_email=ANI))
    assert duplicate.status_code == 409 and duplicate.get_json()["error"] == "duplicate"
    shown = after.get(f"/api/v1/moderation/comments/{ids[0]}", headers=mira).get_json()
    assert sum(shown["author_history"].values()) == 2 and shown["author_banned_until"] == "forever"
    assert sum(after.get(f"/api/v1/moderation/comments/{ids[2]}", headers=mira).get_json()
               ["author_history"].values()) == 2
    assert len(post_export(after, site, BUDI)["bans"]) == 1

    fingerprints = rows(app, Comment, Comment.author_fingerprint, Comment.content_digest) | \
        {-ban_id: row for ban_id, row in rows(app, Ban, Ban.author_fingerprint).items()}
    again = invoke(rotated, "rotate-fingerprint-key")
    assert again.exit_code == 0 and "0 recomputed" in again.output and "0 mapped" in again.output
    assert rows(app, Comment, Comment.author_fingerprint, Comment.content_digest) | \
        {-ban_id: row for ban_id, row in rows(app, Ban, Ban.author_fingerprint).items()} == fingerprints


def test_rotate_fingerprint_key_names_an_undecryptable_comment(app, client, site, settings, comment_payload):
    assert post(client, site["key"], comment_payload()).status_code == 202
    with transaction(app.extensions["sessions"]) as session:
        comment = session.scalar(select(Comment))
        comment.author_email, lost = Fernet(Fernet.generate_key()).encrypt(b"hilang@example.id"), comment.id
    before = rows(app, Comment, Comment.author_fingerprint)
    result = invoke(create_app(replace(settings, fingerprint_key="another")), "rotate-fingerprint-key")
    assert result.exit_code == 1 and f"comments row {lost}: no configured key decrypts" in result.stderr
    assert "hilang" not in result.output and rows(app, Comment, Comment.author_fingerprint) == before
