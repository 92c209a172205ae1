"""moderation.text: folding of disguised spellings, and language guessing."""

import pytest

from moderation.text import detect_language, fold

FOLDED = [
    ("𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 hari ini", "slot gacor hari ini"),            # mathematical bold
    ("𝑺𝒍𝒐𝒕 𝕘𝕒𝕔𝕠𝕣", "slot gacor"),                              # bold italic, double-struck
    ("ＳＬＯＴ８８ ｍａｘｗｉｎ", "slot88 maxwin"),                     # full-width forms
    ("Ⓢⓛⓞⓣ 🅖🅐🅒🅞🅡 🅳🅰🅵🆃🅰🆁", "slot gacor daftar"),               # circled, negative circled/squared
    ("AЕR𝐎𝟴𝟴 gacor", "aero88 gacor"),                           # Cyrillic Е between Latin letters
    ("ꜱʟᴏᴛ ᴍᴀxᴡɪɴ", "slot maxwin"),                             # small capitals
    ("wіn βοnus", "win bonus"),                                  # Cyrillic і, Greek β and ο
    ("1️⃣2️⃣3️⃣ ❶❷", "123 12"),                                  # keycaps, dingbat digits
    ("S̲L̲O̲T̲ s\u200bl\u200do\u2060t \u202egacor\u202c", "slot slot gacor"),  # marks, zero-width, bidi
    ("Café naïve", "cafe naive"),                                # accents
    ("main di p u l a u w i n", "main di pulauwin"),             # spaced letters
    ("⭐ A L E X I S 1 7 ⭐!", "alexis17 !"),                      # spaced letters between emoji
    ("g4c0r m4xw1n s1tus", "gacor maxwin situs"),                # leetspeak between letters
    ("win88 pulau777 hati2 sama2", "win88 pulau777 hati2 sama2"),  # site numbers, reduplication
    ("bangsaaaat woooy!!!", "bangsaat wooy!!!"),                 # repeated letters
    ("mantap 🔥🔥 bosku 😂👍🏻 🇮🇩", "mantap bosku"),                # emoji and flags
    ("  two\tlines\n\nhere  ", "two lines here"),                # whitespace
    ("Don’t “quote” — me", "don't \"quote\" - me"),              # typographic punctuation
    ("I am a student", "i am a student"),                        # plain text unchanged but case
]


@pytest.mark.parametrize(("text", "expected"), FOLDED)
def test_fold_undoes_each_disguise(text, expected):
    assert fold(text) == expected


@pytest.mark.parametrize("text", [text for text, _ in FOLDED] + [
    "p  u  l  a  u", "a b c d e f", "o0o0o", "x" * 50, "ǅ ﬁ ½ ß İ", "", "🔥",
])
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


def test_fold_keeps_other_scripts():
    assert fold("日本語 العربية") == "日本語 العربية"


@pytest.mark.parametrize(("text", "language"), [
    ("Yg bener aja, gak masuk akal nih beritanya", "id"),
    ("Semoga pemerintah cepat tanggap dengan masalah ini", "id"),
    ("wkwk ga gitu juga sih dong", "id"),
    ("This is the best article I have read about the election", "en"),
    ("I don't think that is what they meant", "en"),
    ("𝐓𝐡𝐢𝐬 is 𝐭𝐡𝐞 way", "en"),
    ("mantap 🔥🔥", "und"),
    ("", "und"),
])
def test_detect_language(text, language):
    assert detect_language(text) == language
