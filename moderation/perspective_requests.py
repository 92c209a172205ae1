"""Reading a Perspective client's request (moderation.perspective): its key, its JSON body,
and each field the two routes use, checked as Perspective checks them; anything wrong is a
PerspectiveError (Google's error shape)."""
import json
from dataclasses import dataclass

from flask import g, request

from . import db
from .errors import PerspectiveError, Unauthorized
from .languages import SUPPORTED
from .sites import SiteRef, authenticate

ATTRIBUTES = {  # Perspective's attribute -> the toxicity model's outputs it is the highest of
    "TOXICITY": ("toxicity",),
    "SEVERE_TOXICITY": ("insult", "hate", "identity_attack"),  # targeted attacks, not mere profanity
    "IDENTITY_ATTACK": ("identity_attack",),
    "INSULT": ("insult",),
    "PROFANITY": ("abusive",),
}
UNSCORED = {  # Perspective's other attributes: known, refused like a language they do not support
    "THREAT", "SEXUALLY_EXPLICIT", "FLIRTATION", "ATTACK_ON_AUTHOR", "ATTACK_ON_COMMENTER", "INCOHERENT",
    "INFLAMMATORY", "LIKELY_TO_REJECT", "OBSCENE", "SPAM", "UNSUBSTANTIAL", "AFFINITY_EXPERIMENTAL",
    "COMPASSION_EXPERIMENTAL", "CURIOSITY_EXPERIMENTAL", "NUANCE_EXPERIMENTAL", "PERSONAL_STORY_EXPERIMENTAL",
    "REASONING_EXPERIMENTAL", "RESPECT_EXPERIMENTAL", "TOXICITY_EXPERIMENTAL", "SEVERE_TOXICITY_EXPERIMENTAL",
    "IDENTITY_ATTACK_EXPERIMENTAL", "INSULT_EXPERIMENTAL", "PROFANITY_EXPERIMENTAL", "THREAT_EXPERIMENTAL",
}
MAX_TEXT_BYTES = 20480  # Perspective's limit
MAX_TOKEN = 200  # characters of a communityId or a client's comment id kept


@dataclass
class Analysis:
    text: str
    attributes: dict[str, float | None]  # requested attribute -> its scoreThreshold
    hint: str | None
    spans: bool
    client_token: str | None


def authenticated_site() -> SiteRef:
    """The site whose key came as ?key= or as 'Authorization: Bearer'."""
    key = request.args.get("key")
    if key is None:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        key = credentials.strip() if scheme.lower() == "bearer" else None
    if not key:
        raise PerspectiveError(403, "The request is missing a valid API key.")
    try:
        site = authenticate(db.session(), key.strip())
    except Unauthorized:
        raise PerspectiveError(400, "API key not valid. Please pass a valid API key.") from None
    g.site_slug = site.slug
    return site


def read_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PerspectiveError(400, "Invalid JSON payload received: send a JSON object.")
    return body


def parse_analysis(body: dict) -> Analysis:
    text = read_text(body)
    requested = body.get("requestedAttributes")
    if not isinstance(requested, dict) or not requested:
        raise PerspectiveError(400, "Request must specify at least one attribute in 'requestedAttributes'.")
    attributes = {}
    for name, options in requested.items():
        if name not in ATTRIBUTES and name not in UNSCORED:
            raise PerspectiveError(400, f"Unknown attribute: {name[:64]}")
        attributes[name] = read_attribute_options(name, options)
    read_flag(body, "doNotStore")  # checked, then moot: no analyzed text is kept either way
    return Analysis(text=text, attributes=attributes, hint=read_language_hint(body.get("languages")),
                    spans=read_flag(body, "spanAnnotations"), client_token=optional_string(body, "clientToken"))


def read_text(body: dict) -> str:
    comment = body.get("comment")
    text = comment.get("text") if isinstance(comment, dict) else None
    if comment is not None and not isinstance(comment, dict) or text is not None and not isinstance(text, str):
        raise PerspectiveError(400, "Invalid value at 'comment.text' (TYPE_STRING).")
    if not text or not text.strip():
        raise PerspectiveError(400, "Comment must be non-empty.", "COMMENT_EMPTY")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise PerspectiveError(400, f"Comment text too long (over {MAX_TEXT_BYTES} bytes).", "COMMENT_TOO_LONG")
    if "\x00" in text or any(0xD800 <= ord(char) <= 0xDFFF for char in text):
        raise PerspectiveError(400, "Invalid value at 'comment.text': not valid UTF-8 text.")
    return text


def read_attribute_options(name: str, options) -> float | None:
    """An attribute's scoreThreshold (None: every score); only PROBABILITY scores exist."""
    if not isinstance(options, dict):
        raise PerspectiveError(400, f"Invalid value at 'requested_attributes[{name}]': send an object.")
    if options.get("scoreType", "PROBABILITY") != "PROBABILITY":
        raise PerspectiveError(400, f"Unsupported scoreType for {name}: only PROBABILITY.")
    threshold = options.get("scoreThreshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        raise PerspectiveError(400, f"Invalid value at 'requested_attributes[{name}].score_threshold': 0 to 1.")
    return threshold


def read_language_hint(languages) -> str | None:
    """The first language the client names (its primary subtag), checked: Saring speaks
    Indonesian and English only. Only a hint: the text decides."""
    if languages is None:
        return None
    if not isinstance(languages, list) or not all(isinstance(code, str) for code in languages):
        raise PerspectiveError(400, "Invalid value at 'languages' (TYPE_STRING list).")
    codes = [code.strip().lower().replace("_", "-").split("-")[0] for code in languages]
    codes = ["id" if code == "in" else code for code in codes]  # Java's old code for Indonesian
    unknown = [code for code in codes if code not in SUPPORTED]
    if unknown:
        raise PerspectiveError(400, f"Attribute TOXICITY does not support request languages: {unknown[0][:16]}",
                               "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
    return codes[0] if codes else None


def read_flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise PerspectiveError(400, f"Invalid value at '{name}' (TYPE_BOOL).")
    return value


def optional_string(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise PerspectiveError(400, f"Invalid value at '{name}' (TYPE_STRING).")
    return value


def read_suggestions(scores) -> dict[str, float]:
    """{attribute: suggested value} from `attributeScores`; only attributes Saring scores."""
    if not isinstance(scores, dict) or not scores:
        raise PerspectiveError(400, "Request must suggest a score in 'attributeScores'.")
    suggested = {}
    for name, score in scores.items():
        if name not in ATTRIBUTES:
            raise PerspectiveError(400, f"Attribute {name[:64]} is not scored by Saring.",
                                   "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
        summary = score.get("summaryScore") if isinstance(score, dict) else None
        value = summary.get("value") if isinstance(summary, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise PerspectiveError(400, f"Invalid value at 'attribute_scores[{name}].summary_score.value': 0 to 1.")
        suggested[name] = float(value)
    return suggested


def read_context(context) -> dict[str, str]:
    """The commented item's id and URL, from the first context entry whose text is JSON
    naming them (Coral Talk: {"url", "Coral_comment_id", ...}); nothing otherwise."""
    entries = context.get("entries") if isinstance(context, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not (isinstance(entry, dict) and isinstance(entry.get("text"), str)):
            continue
        try:
            named = json.loads(entry["text"])
        except ValueError:
            continue
        if isinstance(named, dict):
            found = {"id": named.get("Coral_comment_id") or named.get("id"), "url": named.get("url")}
            return {key: value[:MAX_TOKEN if key == "id" else 2000] for key, value in found.items()
                    if isinstance(value, str) and value}
    return {}
