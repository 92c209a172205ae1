"""Properties of what every comment passes through, checked by hypothesis on random input
(combining marks, zero-width and bidi controls, emoji, lone surrogates, NUL, very long fields,
nested JSON, wrong types): the submission schemas, the policy parser, the obfuscation folding
and the word-list matcher. Derandomized (the same examples on every run) on a bounded budget;
PROPERTY_EXAMPLES=5000 hunts longer."""
import os
import time
import unicodedata

import pytest
from email_validator import validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from moderation.errors import InvalidFields
from moderation.policy import load_policy, parse_policy
from moderation.schemas import LIMITS, CommentIn, email_address, field_errors
from moderation.text import detect_language, fold
from moderation.words import find_words, link_hosts, squeeze

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "150"))
settings.register_profile("properties", max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
PROPERTIES = settings.get_profile("properties")

NASTY = ["\u0301", "\u0338", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202a", "\u202e", "\u2066",
         "\u2069", "\x00", "\x7f", "\ud800", "\udfff", "😂", "👍🏻", "🇮🇩", "👨\u200d👩\u200d👧", "1\ufe0f\u20e3",
         "\U0001d41a", "ｓ", "ﬁ", "İ", "ß", "ǅ", "٣", "²", "\u2028", "\t", "\r\n", "<", "'", "%", "[", "@", "://"]
CHARACTERS = st.characters() | st.sampled_from(NASTY)
TEXTS = st.lists(CHARACTERS, max_size=40).map("".join) | st.builds(
    lambda piece, times: piece * times, st.sampled_from(["x", "a ", "😂", "\u0301", "é"]),
    st.sampled_from([1, 45, 100, 101, 200, 201, 245, 246, 2001, 65525, 65526]))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXTS,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
                    max_leaves=8)
FIELDS = list(CommentIn.model_fields)
VALID = {"article_id": "rusia-as-dialog", "author_name": "Budi Santoso", "author_email": "budi@example.co.id",
         "content": "Semoga dialog kedua negara membawa perdamaian yang nyata."}


def readable(value: str) -> bool:
    return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)


@PROPERTIES
@given(st.dictionaries(st.sampled_from(FIELDS) | TEXTS, JSON | TEXTS, max_size=len(FIELDS) + 2))
def test_any_json_object_is_a_comment_or_field_errors(body):
    try:
        comment = CommentIn.model_validate(body)
    except ValidationError as error:
        fields = field_errors(error)
        assert fields and all(isinstance(message, str) and message for message in fields.values())
        assert set(fields) <= {*body, *FIELDS, "body"}  # a key "" is reported as the body's
        return
    for name, value in comment.model_dump().items():
        assert value is None or (readable(value) and len(value) <= LIMITS[name]), name
    assert comment.content.strip() and comment.author_name.strip() and comment.article_id.strip()
    assert comment.lang is None or comment.lang == comment.lang.lower()


@PROPERTIES
@given(st.sampled_from(FIELDS), JSON | TEXTS)
@example("content", "ok\x00")
@example("author_name", "\ud800")
@example("content", "x" * 65526)
@example("lang", ["id"])
def test_a_bad_field_is_named_alone(name, value):
    """One field replaced in a valid comment: accepted as sent, or refused naming that field."""
    body = {**VALID, name: value}
    try:
        comment = CommentIn.model_validate(body)
    except ValidationError as error:
        assert list(field_errors(error)) == [name]
        return
    normalised = {"lang": value.lower() if value else None, "author_url": value or None, "article_url": value or None}
    assert getattr(comment, name) == normalised.get(name, value)


@PROPERTIES
@given(st.binary(max_size=300) | st.builds(lambda text: text.encode("utf-8", "surrogatepass"), TEXTS))
@example(b'{"content": "\xff\xfe"}')
@example(b'{"a": ' * 200 + b"1" + b"}" * 200)
@example(b"[" * 100_000)  # json.loads raised RecursionError, not ValueError: a 500
def test_any_body_gets_a_json_error_never_a_crash(client, site, body):
    response = client.post("/api/v1/comments", data=body, headers={**site["auth"], "Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.get_data(as_text=True)[:200]
    assert set(response.get_json()) == {"error", "message", "fields"}


SCORES = st.none() | st.floats(-1, 2)
THRESHOLDS = st.fixed_dictionaries({}, optional={"flag": SCORES, "reject": SCORES})
POLICY_VALUES = {
    "thresholds": st.dictionaries(st.sampled_from(["spam", "toxicity", "insult", "threat", "nope"]) | TEXTS, THRESHOLDS)
    | JSON,
    "premoderation": st.booleans() | JSON,
    "hold_new_authors": st.integers(-5, 200) | JSON,
    "hold_words": st.lists(TEXTS, max_size=5) | JSON,
    "block_words": st.lists(TEXTS, max_size=5) | JSON,
    "link_cap": st.none() | st.integers(-1, 200),
    "link_domains_allow": st.lists(st.sampled_from([" Example.COM", ".poros.id", "a/b", "", "x" * 254]) | TEXTS,
                                   max_size=3),
    "link_domains_deny": st.lists(TEXTS, max_size=3) | JSON,
    "trusted_after": st.none() | st.integers(-1, 2000),
    "trusted_relief": st.floats(-1, 1) | JSON,
    "fail": st.dictionaries(st.sampled_from(["spam", "toxicity", "x"]), st.sampled_from(["open", "closed", "ajar"])),
    "auto_close_days": st.none() | st.integers(-1, 5000),
    "observe": st.sampled_from([None, "publish", "hold", "sometimes"]),
    "flood": st.fixed_dictionaries({}, optional={"per_ip": st.integers(-1, 20_000), "per_site": JSON}) | JSON,
    "erase": st.sampled_from(["anonymise", "remove", "burn"]),
    "allow_private_callbacks": st.booleans() | JSON,
}


@PROPERTIES
@given(st.fixed_dictionaries({}, optional=POLICY_VALUES) | JSON)
@example({"thresholds": {"\ud800": {}}})  # the message naming it made pydantic raise UnicodeEncodeError
@example({"fail": {"spam": "open", "\udfff": "closed"}})
def test_a_policy_parses_and_reloads_or_is_refused_field_by_field(data):
    try:
        policy = parse_policy(data)
    except InvalidFields as error:
        assert error.fields and all(isinstance(message, str) and message for message in error.fields.values())
        return
    stored = policy.model_dump(mode="json")
    assert load_policy(stored) == policy == parse_policy(stored)  # what is stored reads back the same
    assert all(readable(word) for word in policy.hold_words + policy.block_words)


@PROPERTIES
@given(TEXTS)
@example("S̲L̲O̲T̲ s\u200bl\u200do\u2060t \u202egacor\u202c 😂 \ud800\x00")
@example("AA 0 0")
def test_folding_is_idempotent_plain_and_never_raises(text):
    folded = fold(text)
    assert fold(folded) == folded
    assert folded == folded.strip() and "  " not in folded and not any("A" <= c <= "Z" or c < " " for c in folded)
    assert all(c.isascii() or unicodedata.category(c) in ("Ll", "Lm", "Lo", "Lt", "Lu", "Nd") for c in folded)
    assert detect_language(text) in ("id", "en", "und")


LEET = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
HIDERS = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CYRILLIC = dict(zip("aceopxy", "асеорху"))
STYLES = {
    "upper": str.upper,
    "bold": lambda c: chr(0x1D41A + ord(c) - 97),
    "fullwidth": lambda c: chr(0xFF41 + ord(c) - 97),
    "circled": lambda c: chr(0x24D0 + ord(c) - 97),
    "squared": lambda c: chr(0x1F170 + ord(c) - 97),
    "cyrillic": lambda c: CYRILLIC.get(c, c),
    "accent": lambda c: c + "\u0301",
    "plain": lambda c: c,
}


@st.composite
def disguised_words(draw):
    """A word as a list holds it, and the same word as a spammer writes it: look-alike letters,
    case and accents, and each of spaced letters, digits for letters, repeated letters, with
    zero-width and bidi controls in between."""
    word = draw(st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10))
    style = STYLES[draw(st.sampled_from(sorted(STYLES)))]
    trick = draw(st.sampled_from(["spaced", "leet", "repeated", "none"]))
    pieces = []
    for index, letter in enumerate(word):
        inside = 0 < index < len(word) - 1
        if trick == "leet" and inside and letter in LEET and draw(st.booleans()):
            pieces.append(LEET[letter])
        else:
            pieces.append(style(letter) * (draw(st.integers(1, 4)) if trick == "repeated" else 1))
    characters = list((" " if trick == "spaced" else "").join(pieces))
    for _ in range(draw(st.integers(0, 3))):
        characters.insert(draw(st.integers(1, len(characters) - 1)), draw(st.sampled_from(HIDERS)))
    return word, "".join(characters)


@PROPERTIES
@given(disguised_words(), st.sampled_from(["", "dasar ", "Yg bener aja, ", "88", "🔥 ", "(", "#"]),
       st.sampled_from(["", " banget", "!", "88", " 🔥", ", ya?!"]))
@example(("aab", "a a b"), "", "88")  # spaced letters touching digits were not joined
@example(("gacor", "G A C O R"), "88", "")
@example(("goblok", "g0bl0k"), "", "")
def test_a_listed_word_is_found_however_it_is_disguised(pair, before, after):
    word, written = pair
    assert find_words(["unrelated", word], [before + written + after]) == [squeeze(word)]


@PROPERTIES
@given(st.lists(TEXTS, max_size=4), st.lists(st.none() | TEXTS, max_size=3))
def test_matching_any_list_against_any_text_never_raises(words, texts):
    found = find_words(words, texts)
    assert set(found) <= {squeeze(word) for word in words}


LINKISH = st.lists(st.sampled_from(["http://", "https://", "www.", "[", "]", ".com", ".id", "@", ":", "/", "a", "B",
                                    "\u2100", " ", "?", "#", "%", "..", "99999"]), max_size=12).map("".join)


@PROPERTIES
@given(LINKISH | TEXTS, st.none() | LINKISH)
@example("Foto di http://[galeri.poroswarta.example ya", "http://[x.com")
@example("http://a\u2100b.example/", None)
def test_link_hosts_never_raises(content, author_url):
    """A comment holding `http://[x` made urlsplit raise: its check job failed on every try."""
    for host in link_hosts(content, author_url):
        assert host and host == host.lower() and not host.endswith(".")


ADDRESS_PARTS = st.sampled_from(["a", "Z", "0", ".", "-", "+", "_", "'", "@", "x.com", "co.id", "ｅ", "î", "é", " ",
                                 "localhost", "test", "[1.2.3.4]", "\"", "xn--80ak6aa92e"])


@PROPERTIES
@given(st.lists(ADDRESS_PARTS, min_size=1, max_size=10).map("".join))
@example("budi@example.co.id")
@example("a@xn--a.com")  # not punycode: the fast path took it, email-validator does not
def test_the_fast_email_check_accepts_only_what_email_validator_accepts(address):
    try:
        email_address(address)
    except ValueError:
        return
    validate_email(address, check_deliverability=False)  # raises EmailNotValidError if the fast path erred


@pytest.mark.parametrize("piece", ["a ", "a1", "1 ", "a\u0301", "a.", "www.", "http://[", "g0 b", "a.com.", "😂",
                                   "\u200b", "x"])
def test_folding_and_matching_a_longest_comment_take_moments(piece):
    """No pattern backtracks on 65,525 characters (each takes milliseconds; minutes would fail)."""
    text = (piece * (LIMITS["content"] // len(piece) + 1))[:LIMITS["content"]]
    words = ["slot gacor", "goblok", "a" * 100]
    started = time.perf_counter()
    fold(text), find_words(words, [text]), link_hosts(text, None), detect_language(text)
    assert time.perf_counter() - started < 2.0
