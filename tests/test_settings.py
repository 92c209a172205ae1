"""One settings reader, failing fast on a missing secret."""
import pytest

from moderation.settings import MissingSetting, Settings

SECRETS = {
    "MODERATION_SECRET_KEY": "s",
    "MODERATION_EMAIL_KEYS": "k1, k2",
    "MODERATION_FINGERPRINT_KEY": "f",
}


def test_reads_every_setting_from_moderation_variables():
    settings = Settings.from_env({**SECRETS, "MODERATION_SWEEP_AFTER": "2.5", "MODERATION_CHECK_RETRIES": "1,2",
                                  "MODERATION_DATABASE_URL": "postgresql+psycopg://db/saring"})
    assert settings.email_keys == ("k1", "k2")
    assert settings.sweep_after == 2.5
    assert settings.check_retries == (1, 2)
    assert settings.database_url == "postgresql+psycopg://db/saring"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_fails_fast(missing):
    environ = {name: value for name, value in SECRETS.items() if name != missing}
    with pytest.raises(MissingSetting, match=missing):
        Settings.from_env(environ)


def test_an_empty_variable_counts_as_unset():
    """An env file's `MODERATION_DATABASE_URL=` keeps the default rather than an empty URL,
    and an empty secret is as missing as an absent one."""
    settings = Settings.from_env({**SECRETS, "MODERATION_DATABASE_URL": "", "MODERATION_PROXY_HOPS": " "})
    assert settings.database_url == Settings.database_url and settings.proxy_hops == 0
    with pytest.raises(MissingSetting, match="MODERATION_SECRET_KEY"):
        Settings.from_env({**SECRETS, "MODERATION_SECRET_KEY": ""})


def test_every_setting_is_documented_in_the_readme():
    from dataclasses import fields
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert [f.name for f in fields(Settings) if f"MODERATION_{f.name.upper()}" not in readme] == []
