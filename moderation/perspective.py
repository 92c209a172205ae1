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
(`errors.PerspectiveError`); perspective_requests.py reads and checks each request.
Perspective's attributes map onto the toxicity model's outputs (ATTRIBUTES); one Saring
cannot score is refused as Perspective refuses an attribute that does not support a language."""
import math
import time
import uuid

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.job import Job
from rq.results import Result
from sqlalchemy import delete

from .api import read_cached_policy
from .db import transaction
from .errors import PerspectiveError
from .languages import choose_language
from .perspective_requests import (
    ATTRIBUTES, MAX_TOKEN, Analysis, authenticated_site, optional_string, parse_analysis, read_body, read_context,
    read_suggestions, read_text,
)
from .tables import SuggestedScore

bp = Blueprint("perspective", __name__, url_prefix="/perspective/v1alpha1")

ANALYZE_JOB = "workers.perspective.analyze_text"
QUOTA_KEY = "saring:perspective:quota"
JOB_TIMEOUT = 5  # seconds a worker may spend on one text


@bp.post("/comments:analyze")
def analyze():
    site = authenticated_site()
    body = read_body()
    analysis = parse_analysis(body)
    policy = read_cached_policy(site.id)
    language = choose_language(analysis.text, analysis.hint, policy.language)
    unscored = [name for name in analysis.attributes if name not in ATTRIBUTES]
    if unscored:
        raise PerspectiveError(400, f"Attribute {unscored[0]} does not support request languages: {language}",
                               "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
    count_request(site.id, policy.perspective.quota_per_minute)
    outputs = score_text(analysis.text, analysis.spans, policy.perspective.time_budget_ms / 1000)
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


# -- scoring -----------------------------------------------------------------------------------


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
        job = queue.enqueue(ANALYZE_JOB, text, spans, time.time() + budget, job_id=f"analyze-{uuid.uuid4().hex}",
                            at_front=True, description="perspective analyze", job_timeout=JOB_TIMEOUT,
                            ttl=math.ceil(budget) + 1, result_ttl=10, failure_ttl=10)
        try:
            result = wait_for_result(redis, job.id, deadline)
        finally:
            delete_analysis(job)
    except RedisError:
        raise PerspectiveError(503, "The job queue is unavailable; retry later.") from None
    if result is None:
        raise PerspectiveError(503, f"No score within the site's time budget of {round(budget * 1000)} ms.")
    if result.type != Result.Type.SUCCESSFUL:
        raise PerspectiveError(500, "Scoring the comment failed.")
    return result.return_value


def delete_analysis(job: Job) -> None:
    """Delete an analyze job's hash (its text), its result and its place in the queue: plain
    deletes, safe while a worker runs the job or after it deleted the job itself (RQ's
    Job.delete is neither). Its id may stay in a registry until RQ's cleanup; it holds no text."""
    with job.connection.pipeline(transaction=False) as pipe:
        pipe.lrem(Queue(job.origin, connection=job.connection).key, 0, job.id)
        pipe.delete(job.key, Result.get_key(job.id))
        pipe.execute()


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
