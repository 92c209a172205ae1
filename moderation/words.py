"""Word lists and links, as a site's policy reads them.

A word or phrase matches whole (not inside a longer word), case- and accent-insensitively,
in any script, after the same folding the models see (look-alike letters, spaced letters,
digit swaps) and with repeated letters squeezed, so `G O B L O K`, `g0bl0k` and `goooblok`
all match `goblok`. Digits next to a word do not hide it (`gacor88` matches `gacor`).
"""
import re
from functools import lru_cache
from urllib.parse import urlsplit

from .text import fold

_REPEATS = re.compile(r"([^\W\d_])\1+")
_NOT_LETTER_BEFORE, _NOT_LETTER_AFTER = r"(?<![^\W\d_])", r"(?![^\W\d_])"
_TLDS = ("com|net|org|info|biz|io|co|id|ly|me|xyz|site|online|top|club|vip|link|app|gg|tk|ml|ga|cf|to|cc|us|"
         "uk|in|my|sg|ru|cn|asia|live|shop|store|bet|win|pro")
LINK = re.compile(
    rf"(?:https?://[^\s<>\"']+|www\.[^\s<>\"']+|(?<![\w.@-])(?:[a-z0-9-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"']*)?)",
    re.IGNORECASE,
)


def squeeze(text: str) -> str:
    """Folded, with every run of one repeated letter made one letter."""
    return _REPEATS.sub(r"\1", fold(text))


@lru_cache(maxsize=256)
def compile_words(words: tuple[str, ...]) -> re.Pattern | None:
    """One pattern for a list of words and phrases (cached: a site's list rarely changes)."""
    folded = sorted({squeeze(word) for word in words if squeeze(word)}, key=len, reverse=True)
    if not folded:
        return None
    return re.compile(_NOT_LETTER_BEFORE + "(?:" + "|".join(map(re.escape, folded)) + ")" + _NOT_LETTER_AFTER)


def find_words(words: list[str], texts: list[str | None]) -> list[str]:
    """The listed words (folded) that appear in any of the texts, in order of first match."""
    pattern = compile_words(tuple(words))
    if pattern is None:
        return []
    found = []
    for text in texts:
        if text:
            found += pattern.findall(squeeze(text))
    return list(dict.fromkeys(found))


def link_hosts(content: str, author_url: str | None = None) -> list[str]:
    """The host of every link in the content (with or without a scheme), then the author URL's."""
    links = [link.rstrip(".,;:!?)") for link in LINK.findall(content or "")]
    hosts = [host_of(link if "://" in link else f"http://{link}") for link in links]
    if author_url:
        hosts.append(host_of(author_url))
    return [host for host in hosts if host]


def host_of(url: str) -> str | None:
    """A URL's host in lower case. One that urlsplit refuses (an unclosed `[`, a host that NFKC
    turns into `/`) keeps the host as written, so a broken link still counts and is listed."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
        host = authority.rpartition("@")[2].strip("[]")
    return host.lower().rstrip(".") if host else None


def in_domains(host: str, domains: list[str]) -> bool:
    """Whether a host is one of the domains or a subdomain of one."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)
