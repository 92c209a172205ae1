"""The Perspective-compatible API, /perspective/v1alpha1: a client of Google's Perspective API
(Coral Talk among them) moves to Saring by changing its endpoint URL.

- `comments:analyze` scores a text with the site's toxicity model. The web process never
  loads a model: the text becomes a job at the front of the `toxicity` queue, and the view
  waits for its result within the site's time budget (`perspective.time_budget_ms`), then
  deletes the job and its result, so the text is not kept in Redis (nor anywhere else:
  Saring never stores an analyzed text, whatever `doNotStore` says).
- `comments:suggestscore` stores the score a client suggests (Coral sends 0 when a moderator
  approves a comment, 1 when one rejects it) as a training label of the site.

The key comes as `?key=` (as Perspective's clients send it) or as a Bearer header. Request
logs carry the path only, never the query string. Errors come in Google's shape
(`errors.PerspectiveError`). Perspective's attributes map onto the toxicity model's outputs
(ATTRIBUTES); one Saring cannot score is refused as Perspective refuses an attribute that
does not support a language."""
import json
import math
import time
import uuid
from dataclasses import dataclass

from flask import Blueprint, current_app, g, jsonify, request
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.results import Result
from sqlalchemy import delete

from . import db
from .db import transaction
from .errors import PerspectiveError, Unauthorized
from .languages import SUPPORTED, choose_language
from .sites import authenticate
from .submissions import read_policy
from .tables import SuggestedScore

bp = Blueprint("perspective", __name__, url_prefix="/perspective/v1alpha1")

ANALYZE_JOB = "workers.perspective.analyze_text"
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
QUOTA_KEY = "saring:perspective:quota"
JOB_TIMEOUT = 5  # seconds a worker may spend on one text


@dataclass
class Analysis:
    text: str
    attributes: dict[str, float | None]  # requested attribute -> its scoreThreshold
    hint: str | None
    spans: bool
    client_token: str | None


@bp.post("/comments:analyze")
def analyze():
    site = authenticated_site()
    body = read_body()
    analysis = parse_analysis(body)
    language = choose_language(analysis.text, analysis.hint)
    unscored = [name for name in analysis.attributes if name not in ATTRIBUTES]
    if unscored:
        raise PerspectiveError(400, f"Attribute {unscored[0]} does not support request languages: {language}",
                               "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
    options = site_options(site.id)
    count_request(site.id, options.quota_per_minute)
    outputs = score_text(analysis.text, analysis.spans, options.time_budget_ms / 1000)
    answer = {"attributeScores": attribute_scores(analysis, outputs), "languages": [language],
              "detectedLanguages": [language]}
    if analysis.client_token is not None:
        answer["clientToken"] = analysis.client_token
    return jsonify(answer)


@bp.post("/comments:suggestscore")
def suggest_score():
    site = authenticated_site()
    body = read_body()
    text = read_text(body)
    suggested = read_suggestions(body.get("attributeScores"))
    context = read_context(body.get("context"))
    community, token = optional_string(body, "communityId"), optional_string(body, "clientToken")
    with transaction(current_app.extensions["sessions"]) as session:
        if context.get("id"):  # a moderator who changes their mind replaces their earlier label
            session.execute(delete(SuggestedScore).where(
                SuggestedScore.site_id == site.id, SuggestedScore.external_id == context["id"],
                SuggestedScore.attribute.in_(suggested)))
        session.add_all(SuggestedScore(
            site_id=site.id, attribute=name, value=value, label=int(value >= 0.5), content=text,
            external_id=context.get("id"), url=context.get("url"), community_id=community and community[:MAX_TOKEN],
        ) for name, value in suggested.items())
    return jsonify({"clientToken": token} if token is not None else {})


# -- reading a request -------------------------------------------------------------------------


def authenticated_site():
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
        try:
            named = json.loads(entry["text"]) if isinstance(entry, dict) and isinstance(entry.get("text"), str) else None
        except ValueError:
            continue
        if isinstance(named, dict):
            found = {"id": named.get("Coral_comment_id") or named.get("id"), "url": named.get("url")}
            return {key: value[:MAX_TOKEN if key == "id" else 2000] for key, value in found.items()
                    if isinstance(value, str) and value}
    return {}


# -- scoring -----------------------------------------------------------------------------------


def site_options(site_id: int):
    settings = current_app.config["SETTINGS"]
    return read_policy(db.engine(), site_id, current_app.extensions.setdefault("policies", {}),
                       settings.site_cache_seconds).perspective


def count_request(site_id: int, per_minute: int) -> None:
    """Count one analyze request against the site's quota (a fixed minute, in Redis, shared
    by every web process); over it: 429. While Redis is down nothing is counted (and the
    text cannot be scored either)."""
    if not per_minute:
        return
    key = f"{QUOTA_KEY}:{site_id}:{int(time.time() // 60)}"
    try:
        with current_app.extensions["redis"].pipeline(transaction=False) as pipe:
            count, _ = pipe.incr(key).expire(key, 120).execute()
    except RedisError:
        return
    if count > per_minute:
        raise PerspectiveError(429, f"Quota exceeded: this site may send {per_minute} analyze requests a minute.",
                               retry_after=60 - int(time.time()) % 60)


def score_text(text: str, spans: bool, budget: float) -> dict:
    """The toxicity model's outputs for the text (and its sentences), from a job at the front
    of the toxicity queue; 503 when no worker answers within `budget` seconds. The job and
    its result are deleted either way."""
    redis = current_app.extensions["redis"]
    deadline = time.monotonic() + budget
    try:
        queue = Queue("toxicity", connection=redis)
        if not Worker.count(connection=redis, queue=queue):
            raise PerspectiveError(503, "No toxicity worker is running; retry later.")
        job = queue.enqueue(ANALYZE_JOB, text, spans, time.time() + budget, job_id=f"analyze-{uuid.uuid4().hex}", at_front=True,
                            description="perspective analyze", job_timeout=JOB_TIMEOUT, ttl=math.ceil(budget) + 1,
                            result_ttl=10, failure_ttl=10)
        try:
            result = wait_for_result(redis, job.id, deadline)
        finally:
            job.delete()
    except RedisError:
        raise PerspectiveError(503, "The job queue is unavailable; retry later.") from None
    if result is None:
        raise PerspectiveError(503, f"No score within the site's time budget of {round(budget * 1000)} ms.")
    if result.type != Result.Type.SUCCESSFUL:
        raise PerspectiveError(500, "Scoring the comment failed.")
    return result.return_value


def wait_for_result(redis, job_id: str, deadline: float) -> Result | None:
    """The job's result once a worker writes it (a blocking read of its result stream), or
    None at the deadline."""
    left = math.floor((deadline - time.monotonic()) * 1000)
    if left <= 0:
        return None
    answer = redis.xread({Result.get_key(job_id): "0-0"}, block=left, count=1)
    if not answer:
        return None
    result_id, payload = answer[0][1][-1]
    return Result.restore(job_id, result_id.decode(), payload, connection=redis)


def attribute_scores(analysis: Analysis, outputs: dict) -> dict:
    """Perspective's attributeScores: each requested attribute's summary score (left out
    below its scoreThreshold) and span scores (the sentences with spanAnnotations, else
    the whole text as one span)."""
    whole = [{"begin": 0, "end": len(analysis.text), "outputs": outputs["text"]}]
    scores = {}
    for name, threshold in analysis.attributes.items():
        value = attribute_value(name, outputs["text"])
        if threshold is not None and value < threshold:
            continue
        scores[name] = {
            "summaryScore": probability(value),
            "spanScores": [{"begin": span["begin"], "end": span["end"],
                            "score": probability(attribute_value(name, span["outputs"]))}
                           for span in (outputs["spans"] if analysis.spans else whole)],
        }
    return scores


def attribute_value(name: str, outputs: dict[str, float]) -> float:
    return max(outputs[output] for output in ATTRIBUTES[name])


def probability(value: float) -> dict:
    return {"value": round(value, 6), "type": "PROBABILITY"}
