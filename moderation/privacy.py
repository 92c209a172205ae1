"""Email privacy: encrypted at rest (MultiFernet, newest key first), found by keyed HMAC."""
import hashlib
import hmac

from cryptography.fernet import Fernet, MultiFernet


class Vault:
    """Encrypts, decrypts and fingerprints personal data with the configured keys."""

    def __init__(self, email_keys, fingerprint_key: str):
        self._fernet = MultiFernet([Fernet(key) for key in email_keys])
        self._fingerprint_key = fingerprint_key.encode()

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode())

    def decrypt(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()

    def fingerprint(self, value: str, kind: str = "email") -> str:
        """A keyed digest: equal for equal (normalised) values, useless without the key."""
        normalised = value.strip().casefold()
        return hmac.new(self._fingerprint_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


def mask_email(email: str) -> str:
    """'budi.santoso@example.co.id' -> 'b***o@e***.co.id'."""
    if not email:  # an erased author's (moderation.authors)
        return ""
    local, _, domain = email.partition("@")
    host, dot, tld = domain.partition(".")
    masked_local = local[0] + "***" + (local[-1] if len(local) > 2 else "")
    return f"{masked_local}@{host[:1]}***{dot}{tld}"


def init_app(app) -> None:
    settings = app.config["SETTINGS"]
    app.extensions["vault"] = Vault(settings.email_keys, settings.fingerprint_key)
