"""Signals beyond words: links, phone numbers, disguise, gambling vocabulary, language.

``comment_features`` is plain Python, used identically at training and scoring time; the
pipeline only sees its numbers (a ``ColumnTransformer`` passes them to a ``StandardScaler``),
so the stored artifact holds no custom code. Training data has the comment text only, so
the author fields are empty at training time and their columns carry no learned weight.
"""

import math
import re

import pandas as pd

from moderation.text import detect_language, fold

_URL = re.compile(r"(?:https?://|www\.)[^\s]+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\."
                  r"(?:com|net|org|id|co|io|me|ly|gl|info|xyz|site|online|link|vip|top|"
                  r"club|pro|asia|live|tv|gg|to|cc)\b(?:/[^\s]*)?", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?:https?://)?(?:www\.)?([^/\s?#]+)", re.IGNORECASE)
_SHORTENERS = frozenset("""
    bit.ly tinyurl.com s.id cutt.ly goo.gl t.co linktr.ee rebrand.ly shorturl.at is.gd
    ow.ly buff.ly t.ly rb.gy tiny.cc bitly.com lnkd.in wa.me heylink.me linkr.bio
""".split())
_PHONE = re.compile(r"(?:\+?62|\b0)8\d(?:[\s.-]?\d){6,11}\b|\+\d{1,3}[\s.-]?\d(?:[\s.-]?\d){7,12}")
_WHATSAPP = re.compile(r"\b(?:wa|whatsapp|whatsap|watsap|wasap|telegram|tele|tg|line)\b")
_BRAND = re.compile(r"\b[a-z]{3,}\d{2,}\b")  # site names with numbers: pulau777, win88
_REPEAT = re.compile(r"(.)\1{2,}", re.DOTALL)
_GAMBLING = frozenset("""
    slot gacor maxwin max win togel toto situs daftar deposit depo wd withdraw jackpot jp rtp
    scatter bonus member link alternatif zeus olympus mahjong bandar judi judol bet taruhan
    spin modal cuan hoki sultan pragmatic pg soft pgsoft bocoran pola jam login referral
    kode promo freebet cashback menang untung
""".split())
_AGAINST = frozenset("""
    jangan stop berantas blokir haram dosa rugi bangkrut hancur tangkap larang dilarang
    hindari jauhi bahaya kecanduan tobat miskin penipu tipu bohong hapus laporkan report
""".split())
_WORDS = re.compile(r"[^\W_]+")

FEATURE_NAMES = (
    "links", "domains", "shorteners", "phones", "whatsapp", "brands", "gambling_words",
    "against_words", "repeats", "disguised", "non_ascii", "uppercase", "digits", "length",
    "emoji", "author_url", "author_url_shortener", "author_name_gambling", "author_name_digits",
    "lang_id", "lang_en",
)


def _domains(text: str) -> list[str]:
    return [_DOMAIN.match(url).group(1).lower().rstrip(".,)") for url in _URL.findall(text)]


def comment_features(content: str, author_name: str | None = None,
                     author_url: str | None = None, folded: str | None = None) -> list[float]:
    """The numeric signals of one comment, in the order of FEATURE_NAMES (log-scaled counts).
    ``folded`` is ``fold(content)`` when the caller has it already."""
    content = content or ""
    folded = fold(content) if folded is None else folded
    words = _WORDS.findall(folded)
    domains = _domains(content)
    letters = [c for c in content if c.isalpha()]
    ascii_letters = sum(c.isascii() for c in letters)
    # Look-alike letters fold to ASCII; letters of other scripts stay as they are.
    disguised = max(len(letters) - ascii_letters - sum(not c.isascii() for c in folded), 0)
    name = fold(author_name or "")
    url_domains = _domains(author_url or "")
    language = detect_language(content)
    counts = [
        len(domains), len(set(domains)), sum(d in _SHORTENERS for d in domains),
        len(_PHONE.findall(content)), len(_WHATSAPP.findall(folded)),
        len(_BRAND.findall(folded)), sum(w in _GAMBLING for w in words),
        sum(w in _AGAINST for w in words), len(_REPEAT.findall(content)),
    ]
    return [
        *(math.log1p(n) for n in counts),
        disguised / max(len(letters), 1),
        (len(letters) - ascii_letters) / max(len(letters), 1),
        sum(c.isupper() for c in content) / max(len(letters), 1),
        sum(c.isdigit() for c in content) / max(len(content), 1),
        math.log1p(len(content)),
        math.log1p(sum(ord(c) >= 0x1F000 or 0x2600 <= ord(c) < 0x2800 for c in content)),
        float(bool(author_url)),
        float(any(d in _SHORTENERS for d in url_domains)),
        math.log1p(sum(w in _GAMBLING for w in _WORDS.findall(name)) + len(_BRAND.findall(name))),
        float(any(c.isdigit() for c in name)),
        float(language == "id"), float(language == "en"),
    ]


def comment_frame(contents, author_names=None, author_urls=None) -> pd.DataFrame:
    """The pipeline's input: the folded ``text`` and one column per numeric signal."""
    contents = list(contents)
    names = author_names if author_names is not None else [None] * len(contents)
    urls = author_urls if author_urls is not None else [None] * len(contents)
    folded = [fold(c or "") for c in contents]
    rows = [comment_features(c, n, u, f) for c, n, u, f in zip(contents, names, urls, folded)]
    frame = pd.DataFrame(rows, columns=list(FEATURE_NAMES), dtype=float)
    frame.insert(0, "text", folded)
    return frame
