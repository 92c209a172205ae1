"""Which of the models' two languages a text is written in, where an answer must name one
(the Perspective-compatible API's `languages` and `detectedLanguages`).

Perspective's clients send a language hint that is often wrong (Coral Talk sends "en" for
every locale it cannot map, Indonesian included), so the text decides: the stopword count
of `moderation.text.detect_language` (the one the models' features use) over the folded
text, so disguised words count too. Only a text with no deciding word (a name, a link,
emoji) takes the site's language (its policy's `language`), else the hint when it is
Indonesian or English, else Indonesian, the first customer's language. Measured on the data
sets' held-out parts: `python -m models.languages`."""
from .text import detect_language, fold

SUPPORTED = ("id", "en")


def choose_language(text: str, hint: str | None = None, site: str | None = None) -> str:
    """"id" or "en": the text's language; on a tie the site's language if it has one, else
    the client's hint, else "id"."""
    found = detect_language(fold(text or ""))
    if found in SUPPORTED:
        return found
    return next((code for code in (site, hint) if code in SUPPORTED), "id")
