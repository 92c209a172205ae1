"""Flood limits: how many comments a site, an IP fingerprint and an email fingerprint may
send per minute (the site policy's `flood`; 0: no limit), counted in Redis so that every
web process on every host shares one count.

A fixed window per counter: the first comment starts a 60-second window and the count
starts again when it ends. One Lua script checks every limit and, only if none is reached,
counts the comment against all of them: atomic, one round trip, and a refused comment uses
up nobody's allowance (one flooding address cannot exhaust its site's). Keys hold keyed
fingerprints only, never an address. While Redis is down the limits let comments through
(SPEC §10): the database, not Redis, is what must work for a comment to be accepted."""
import logging

from redis import Redis

from .submissions import Author
from .errors import RateLimited
from .jobs import REDIS_DOWN
from .policy import FloodLimits

log = logging.getLogger(__name__)

WINDOW = 60
PREFIX = "saring:flood"
MESSAGES = {
    "site": "This site is receiving too many comments; retry later.",
    "ip": "Too many comments from this address; retry later.",
    "email": "Too many comments from this author; retry later.",
}
# KEYS: the counters; ARGV[1]: the window in seconds, ARGV[1 + i]: the limit of KEYS[i].
# Returns {0, 0} when the comment was counted, else {i, seconds left} for the first full one.
SCRIPT = """
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or 0) >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, window)
      ttl = window
    end
    return {i, ttl}
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, window)
  end
end
return {0, 0}
"""


class FloodLimiter:
    def __init__(self, redis: Redis):
        self.redis = redis
        self.script = redis.register_script(SCRIPT)

    def check(self, site_id: int, limits: FloodLimits, author: Author) -> None:
        """Count one comment, or raise RateLimited (429, Retry-After: the seconds left in
        the full window) and count nothing."""
        scopes, keys, args = [], [], [WINDOW]
        for scope, value, limit in (("site", "all", limits.per_site), ("ip", author.ip_fingerprint, limits.per_ip),
                                    ("email", author.fingerprint, limits.per_email)):
            if limit and value:
                scopes.append(scope)
                keys.append(f"{PREFIX}:{site_id}:{scope}:{value[:32]}")
                args.append(limit)
        if not keys:
            return
        try:
            full, seconds_left = self.script(keys=keys, args=args)
        except REDIS_DOWN as error:
            log.warning("flood limits not applied, redis unavailable: %s", type(error).__name__)
            return
        if full:
            raise RateLimited(MESSAGES[scopes[full - 1]], seconds_left)
