"""An email address appears nowhere but encrypted: not in the database files or columns,
not in Redis, not in a log record, not in an API response."""
import json
import logging
import zlib
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from moderation.privacy import Vault, mask_email

EMAIL = "Zxq.Privacy-Canary_77@canary-mail.co.id"
NEEDLES = [EMAIL.encode(), EMAIL.lower().encode(), b"privacy-canary_77", b"zxq.privacy"]


def contains_email(blob: bytes) -> bool:
    lowered = blob.lower()
    return any(needle.lower() in lowered for needle in NEEDLES)


def redis_blobs(redis):
    for key in redis.scan_iter("*"):
        yield key
        kind = redis.type(key)
        if kind == b"string":
            yield redis.get(key)
        elif kind == b"hash":
            for field, value in redis.hgetall(key).items():
                yield field
                yield zlib.decompress(value) if field == b"data" else value
        elif kind == b"list":
            yield from redis.lrange(key, 0, -1)
        elif kind == b"set":
            yield from redis.smembers(key)
        elif kind == b"zset":
            yield from redis.zrange(key, 0, -1)
        elif kind == b"stream":
            yield repr(redis.xrange(key)).encode()


def database_blobs(url: str):
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):  # the database, its WAL and shared memory
            yield file.read_bytes()
        return
    engine = create_engine(url)
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'select row_to_json(t)::text from "{table}" t')):
                yield row[0].encode()
    engine.dispose()


def test_email_never_appears_outside_its_ciphertext(app, client, site, comment_payload, work, redis, settings, caplog):
    caplog.set_level(logging.DEBUG)
    response = client.post("/api/v1/comments", json=comment_payload(author_email=EMAIL), headers=site["auth"])
    comment_id = response.get_json()["id"]
    work()
    responses = [
        response,
        client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]),
        client.get(f"/api/v1/sites/{site['slug']}/articles/rusia-as-dialog/comments"),
        client.get(f"/sites/{site['slug']}/articles/rusia-as-dialog"),
    ]
    assert client.get(f"/api/v1/comments/{comment_id}", headers=site["auth"]).get_json()["status"] != "pending"
    assert not any(contains_email(r.get_data()) for r in responses), "an API response or page shows the email"
    assert not any(contains_email(blob) for blob in redis_blobs(redis)), "Redis holds the email"
    assert not any(contains_email(blob) for blob in database_blobs(settings.database_url)), "the database holds it"
    assert not any(contains_email(record.getMessage().encode()) for record in caplog.records), "a log line holds it"


def test_the_moderators_see_it_masked_and_only_an_admin_reveals_it(app, client, site, comment_payload, work, redis,
                                                                   settings, caplog, make_moderator):
    """The workspace and the moderator API show a masked address; revealing it is an admin's
    audited act, and the audit event, labels and ban keep no copy of it."""
    from moderation.db import transaction
    from moderation.moderators import issue_token
    from moderation.tables import Article, Moderator

    caplog.set_level(logging.DEBUG)
    payload = comment_payload(author_email=EMAIL, article_id="privasi")
    comment_id = client.post("/api/v1/comments", json=payload, headers=site["auth"]).get_json()["id"]
    with transaction(app.extensions["sessions"]) as session:
        session.query(Article).filter_by(external_id="privasi").update({"premoderated": True})
    work()
    admin_id = make_moderator("ayu", role="admin", sites=())
    with transaction(app.extensions["sessions"]) as session:
        admin = session.get(Moderator, admin_id)
        token = {"Authorization": f"Bearer {issue_token(session, admin)}"}
        remembered = [admin.id, admin.session_version]
    with client.session_transaction() as browser:
        browser["moderator"] = remembered
    api = "/api/v1/moderation"
    responses = [
        client.get("/moderate"),
        client.get(f"{api}/queue", headers=token),
        client.get(f"{api}/comments/{comment_id}", headers=token),
        client.post(f"{api}/comments/{comment_id}/actions", json={"action": "ban", "reason": "spam"}, headers=token),
        client.get("/moderate?status=rejected"),
        client.get("/moderate/audit"),
        client.get(f"{api}/audit", headers=token),
    ]
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert mask_email(EMAIL) in responses[0].get_data(as_text=True)
    assert not any(contains_email(r.get_data()) for r in responses), "a moderator page or answer shows the email"
    revealed = client.post(f"{api}/comments/{comment_id}/reveal-email", headers=token)
    assert revealed.get_json() == {"email": EMAIL} and revealed.headers["Cache-Control"] == "no-store"
    assert not any(contains_email(blob) for blob in redis_blobs(redis)), "Redis holds the email"
    assert not any(contains_email(blob) for blob in database_blobs(settings.database_url)), "the database holds it"
    assert not any(contains_email(record.getMessage().encode()) for record in caplog.records), "a log line holds it"


def test_email_is_encrypted_with_rotation_and_found_by_fingerprint():
    old = Vault(["ZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmQ="], "fingerprint")
    token = old.encrypt(EMAIL)
    rotated = Vault(["Y2JhY2JhY2JhY2JhY2JhY2JhY2JhY2JhY2JhY2JhY2I=", "ZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmQ="], "fingerprint")
    assert rotated.decrypt(token) == EMAIL, "old keys still decrypt after a new key is added"
    assert old.fingerprint(EMAIL) == old.fingerprint("  " + EMAIL.upper())
    assert old.fingerprint(EMAIL) != Vault(["ZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmRlZmQ="], "other").fingerprint(EMAIL)
    assert EMAIL.encode() not in token


def test_masked_email_hides_the_address():
    assert mask_email("budi.santoso@example.co.id") == "b***o@e***.co.id"
    assert mask_email("ab@x.com") == "a***@x***.com"
    assert json.dumps(mask_email(EMAIL)).count("canary") == 0
