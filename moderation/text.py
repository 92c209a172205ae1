"""Text folding and language guessing shared by the web process and the models (pure Python).

``fold`` undoes the disguises of comment spam (Unicode look-alikes, spaced letters, digit
swaps, emoji) so that models and word lists see one plain lowercase spelling.
"""

import re
import unicodedata

# Look-alikes that NFKC leaves alone, keyed by the character after NFKC and casefold.
_LOOKALIKES = {
    **dict(zip("авсԁеһіјкӏмнорԛѕтуԝхүɡ", "abcdehijklmhopqstywxyg")),  # Cyrillic
    **dict(zip("αβεηικνορτυχω", "abenikvoptuxw")),  # Greek
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnoprstuvwyz")),  # small capitals
    **dict(zip("ıłđøŧ", "ildot")),
    **{chr(0x1F150 + i): chr(97 + i) for i in range(26)},  # negative circled 🅐
    **{chr(0x1F170 + i): chr(97 + i) for i in range(26)},  # negative squared 🅰
    **{chr(base + i): str(i + 1) for base in (0x2776, 0x2780, 0x278A, 0x24F5) for i in range(9)},
    **dict.fromkeys("❿➉➓⓾", "10"),
    "⓿": "0",
    **dict.fromkeys("‘’‚‛′", "'"),
    **dict.fromkeys("“”„‟″", '"'),
    **dict.fromkeys("‐‑‒–—―", "-"),
}
_LEET = str.maketrans("013457", "oieast")


def _fold_char(char: str) -> str:
    """The folded form of one character (NFKC, casefold, look-alikes, no marks or emoji)."""
    if char.isascii():
        return " " if char < " " or char == "\x7f" else char.lower()
    out = []
    for c in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold()):
        category = unicodedata.category(c)
        if c.isascii():
            out.append(_fold_char(c))
        elif c in _LOOKALIKES:
            out.append(_LOOKALIKES[c])
        elif category[0] == "M" or category == "Cf":  # marks, zero-width, bidi, selectors
            continue
        elif category[0] == "L" or category == "Nd":
            out.append(c)
        else:  # emoji and other symbols, unusual punctuation, separators, controls
            out.append(" ")
    return "".join(out)


class _CharTable(dict):
    """A str.translate table that folds each new character once and remembers it."""

    def __missing__(self, codepoint: int) -> str:
        folded = _fold_char(chr(codepoint))
        if len(self) < 100_000:
            self[codepoint] = folded
        return folded


_CHARS = _CharTable({i: _fold_char(chr(i)) for i in range(128)})
_SPACES = re.compile(r"\s+")
_SPACED_LETTERS = re.compile(r"(?<![^\W\d_])[^\W_](?: [^\W_]){2,}(?![^\W\d_])")  # digits may touch a run
_LEET_DIGITS = re.compile(r"(?<=[^\W\d_])[013457]+(?=[^\W\d_])")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_WORDS = re.compile(r"[^\W\d_]+")


def fold(text: str) -> str:
    """What every model and word list sees: lowercase, de-disguised, single-spaced text."""
    text = _SPACES.sub(" ", text.translate(_CHARS))
    text = _SPACED_LETTERS.sub(lambda m: m.group().replace(" ", ""), text)
    text = _LEET_DIGITS.sub(lambda m: m.group().translate(_LEET), text)
    return _REPEATS.sub(r"\1\1", text).strip()


_INDONESIAN = frozenset("""
    yang yg dan di ke dari ini itu dengan dgn untuk utk buat tidak tdk gak ga nggak ngga enggak
    gk aja saja nih dong sih deh kok kan ya juga jg ada akan sudah udah udh sdh belum blm bisa
    bs jadi jd karena krn kalau kalo klo tapi tp lagi lg mau sama masih atau apa kenapa knp
    gimana bagaimana siapa saya aku gue gua gw kamu lu lo elo kita kami mereka dia nya pada
    oleh para semua sangat banget bgt baru bikin harus hanya cuma memang emang pak bu bang kak
    mas mbak min wkwk wkwkwk dalam bahwa seperti kayak kaya biar terus trus banyak orang
    semoga agar supaya sebagai setelah sebelum tentang antara namun jika bila ketika sedang telah
    pernah selalu lebih paling sekali begitu tersebut adalah ialah yaitu kepada bagi hingga tanpa secara
""".split())
_ENGLISH = frozenset("""
    the a an and or but is are was were be been being to of in on at for with this that these
    those it its i you he she we they my your his her our their me him them not no do does did
    dont doesnt didnt can cant will would should could have has had what who why how when where
    if so just from by as about all there here please very really than then also only more
    because im youre thats
""".split())


def detect_language(text: str) -> str:
    """"id" or "en" by counting stopwords, "und" when neither side wins. Stopwords are
    rarely disguised, so plain casefolding is enough (and a fifth of the cost of fold)."""
    words = _WORDS.findall(text.casefold().replace("'", "").replace("\u2019", ""))
    indonesian = sum(word in _INDONESIAN for word in words)
    english = sum(word in _ENGLISH for word in words)
    if indonesian > english:
        return "id"
    if english > indonesian:
        return "en"
    return "und"
