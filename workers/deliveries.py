"""The callback delivery job. It takes an event id, re-reads the event, and does nothing if
it was delivered, so a retry or a duplicate job is harmless. It POSTs the event's JSON,
signed, to the address the SSRF guard checked (the URL's own host in the Host header and
TLS name), follows no redirect, and counts only a 2xx answer as delivered. Anything else
is recorded on the event and raised: RQ retries with backoff, and `on_delivery_failure`
marks the event failed when no retry is left (it can be replayed)."""
import hashlib
import hmac
import http.client
import json
import socket
import ssl
import time

from sqlalchemy import select, update

from moderation.jobs import note_storage_outage
from moderation.policy import site_policy
from moderation.privacy import Vault
from moderation.receivers import Destination, RefusedDestination, resolve_destination, signing_secrets
from moderation.tables import CallbackEvent, Site, utcnow

from .runtime import current

USER_AGENT = "Saring-Callbacks/1"
READ_LIMIT = 4096  # of the receiver's answer, which is read and dropped


class DeliveryFailed(Exception):
    """A delivery that did not end in a 2xx answer; the message has no body text."""


def deliver(event_id: str) -> dict:
    settings, sessions = current("settings"), current("sessions")
    vault = Vault(settings.email_keys, settings.fingerprint_key)
    with sessions() as session:
        row = session.execute(select(CallbackEvent, Site).join(Site, Site.id == CallbackEvent.site_id)
                              .where(CallbackEvent.event_id == event_id)).first()
        if row is None:
            return {"skipped": "unknown event"}
        event, site = row
        if event.delivered_at is not None:
            return {"skipped": "delivered"}
        url, payload = site.callback_url, event.payload
        allow_private = site_policy(site).allow_private_callbacks
        keys = signing_secrets(session, site.id, vault)
    attempted = utcnow()
    try:
        if not url:
            raise DeliveryFailed("the site has no callback URL")
        if not keys:
            raise DeliveryFailed("the site has no signing secret")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = signed_headers(event_id, body, keys, int(time.time()))
        status = post(resolve_destination(url, allow_private), body, headers, settings.callback_timeout)
        if not 200 <= status < 300:
            raise DeliveryFailed(f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))
    except (DeliveryFailed, RefusedDestination, OSError, http.client.HTTPException) as error:
        reason = describe(error)
        record_attempt(event_id, attempted, error=reason)
        raise DeliveryFailed(f"callback {event_id}: {reason}") from None
    record_attempt(event_id, attempted)
    return {"delivered": True, "status": status}


def signed_headers(event_id: str, body: bytes, keys: list[str], timestamp: int) -> dict:
    """Stripe's scheme: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, one v1 per
    secret that signs now (two during a rotation's overlap)."""
    signed = f"{timestamp}.".encode() + body
    signatures = [hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in keys]
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Saring-Event-Id": event_id,
        "Saring-Timestamp": str(timestamp),
        "Saring-Signature": ",".join([f"t={timestamp}", *(f"v1={signature}" for signature in signatures)]),
    }


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to checked addresses, whatever the host name resolves to now."""

    def __init__(self, destination: Destination, timeout: float):
        super().__init__(destination.host, destination.port, timeout=timeout)
        self.addresses = destination.addresses

    def connect(self):
        self.sock = self.open_socket()

    def open_socket(self) -> socket.socket:
        error = OSError("no address to connect to")
        for address in self.addresses:
            try:
                return socket.create_connection((address, self.port), self.timeout)
            except OSError as failure:
                error = failure
        raise error


class PinnedTLSConnection(PinnedConnection):
    """The same over TLS, verifying the certificate for the URL's host (SNI)."""

    tls = ssl.create_default_context()

    def connect(self):
        self.sock = self.tls.wrap_socket(self.open_socket(), server_hostname=self.host)


def post(destination: Destination, body: bytes, headers: dict, timeout: float) -> int:
    """POST and return the status code; the answer's body is not kept."""
    kind = PinnedTLSConnection if destination.scheme == "https" else PinnedConnection
    connection = kind(destination, timeout)
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(READ_LIMIT)
        return response.status
    finally:
        connection.close()


def describe(error: Exception) -> str:
    """Why an attempt failed, in a few words fit for the ops page: never the answer's body."""
    if isinstance(error, (DeliveryFailed, RefusedDestination)):
        text = str(error)
    elif isinstance(error, TimeoutError):
        text = "timed out"
    elif isinstance(error, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(error, ssl.SSLError):
        text = f"TLS error: {error.reason or type(error).__name__}"
    else:
        text = type(error).__name__ + (f": {error.strerror}" if getattr(error, "strerror", None) else "")
    return text[:300]


def record_attempt(event_id: str, attempted, error: str | None = None) -> None:
    values = {"attempts": CallbackEvent.attempts + 1, "last_attempt_at": attempted}
    if error is None:
        values.update(delivered_at=utcnow(), failed_at=None)
    else:
        values["last_error"] = error
    with current("sessions").begin() as session:
        session.execute(update(CallbackEvent).where(CallbackEvent.event_id == event_id).values(**values))


def on_delivery_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ calls this after every failed try; once no retry is left the event is failed
    (listed, replayable), unless the database was down: then the sweeper delivers it again
    once the database is back."""
    if job.retries_left or note_storage_outage(job, exc_value):
        return
    with current("sessions").begin() as session:
        session.execute(update(CallbackEvent)
                        .where(CallbackEvent.event_id == job.args[0], CallbackEvent.delivered_at.is_(None))
                        .values(failed_at=utcnow()))
