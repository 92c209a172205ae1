"""Training labels from moderators' verdicts, and how often those verdicts overturn the model.

A verdict labels the checks it speaks for: approving says ham and clean; marking spam (or
rejecting as spam) says spam; rejecting as toxic or as a personal attack says toxic. Other
reasons (off-topic, illegal, other) say nothing a model was asked, so they label nothing.
A label overturns the model when it disagrees with what the check asked for (a flag or a
rejection means the model called the comment spam, or toxic)."""
from sqlalchemy import Integer, case, delete, func, insert, select
from sqlalchemy.orm import Session

from .rules import judge
from .tables import CheckResult, Comment, Label, Site, SuggestedScore, utcnow

LABELLED = ("TOXICITY", "SEVERE_TOXICITY")  # suggested Perspective scores that label toxicity
VERDICTS = {  # (action, reason) -> {check: label}
    ("approve", None): {"spam": 0, "toxicity": 0},
    ("spam", "spam"): {"spam": 1},
    ("reject", "spam"): {"spam": 1},
    ("ban", "spam"): {"spam": 1},
    ("reject", "toxic"): {"toxicity": 1},
    ("ban", "toxic"): {"toxicity": 1},
    ("reject", "personal_attack"): {"toxicity": 1},
    ("ban", "personal_attack"): {"toxicity": 1},
}


def record_labels(session: Session, comments: list[Comment], action: str, reason: str | None, actor: str,
                  source: str = "moderator") -> int:
    """Store (replacing older ones) the labels a verdict gives comments, each with what the
    model had said; a few statements however many comments. Returns how many were stored."""
    verdict = VERDICTS.get((action, reason), {})
    if not verdict or not comments:
        return 0
    ids = [comment.id for comment in comments]
    scored = select(CheckResult.comment_id, CheckResult.check, CheckResult.score, CheckResult.error,
                    CheckResult.attributes, CheckResult.thresholds, CheckResult.model_version)
    results = {
        (result.comment_id, result.check): result  # rows, which judge reads like CheckResults
        for result in session.execute(scored.where(CheckResult.comment_id.in_(ids), CheckResult.check.in_(verdict)))
    }
    session.execute(delete(Label).where(Label.comment_id.in_(ids), Label.check.in_(verdict)))
    now, rows = utcnow(), []
    for comment in comments:
        for check, value in verdict.items():
            result = results.get((comment.id, check))
            scored = result is not None and result.score is not None
            rows.append({
                "comment_id": comment.id, "site_id": comment.site_id, "check": check, "value": value,
                "model_version": result.model_version if result else None,
                "model_score": result.score if scored else None,
                "overturned": (value == 1) != (judge(check, result) is not None) if scored else None,
                "source": source, "created_by": actor, "created_at": now,
            })
    session.execute(insert(Label), rows)
    return len(rows)


def overturn_rates(session: Session, site_ids: list[int] | None = None) -> list[dict]:
    """Per site, check and model version: labels, how many overturned the model, the rate."""
    counted = Label.overturned.is_not(None)
    query = (
        select(
            Site.slug,
            Label.check,
            Label.model_version,
            func.count().label("labels"),
            func.sum(case((Label.overturned, 1), else_=0)).cast(Integer).label("overturned"),
        )
        .join(Site, Site.id == Label.site_id)
        .where(counted)
        .group_by(Site.slug, Label.check, Label.model_version)
        .order_by(Site.slug, Label.check, Label.model_version)
    )
    if site_ids is not None:
        query = query.where(Label.site_id.in_(site_ids))
    return [
        {"site": row.slug, "check": row.check, "model_version": row.model_version, "labels": row.labels,
         "overturned": row.overturned, "rate": round(row.overturned / row.labels, 4)}
        for row in session.execute(query)
    ]


def training_rows(session: Session, check: str, site_slug: str | None = None) -> list[tuple[str, int, str]]:
    """(content, label, site slug) of every labelled comment for a check, for retraining:
    moderators' labels, then (toxicity) the scores Perspective clients suggested."""
    query = (
        select(Comment.content, Label.value, Site.slug)
        .join(Comment, Comment.id == Label.comment_id)
        .join(Site, Site.id == Label.site_id)
        .where(Label.check == check)
        .order_by(Label.id)
    )
    suggested = (
        select(SuggestedScore.content, SuggestedScore.label, Site.slug)
        .join(Site, Site.id == SuggestedScore.site_id)
        .where(SuggestedScore.attribute.in_(LABELLED if check == "toxicity" else ()))
        .order_by(SuggestedScore.id)
    )
    if site_slug:
        query, suggested = query.where(Site.slug == site_slug), suggested.where(Site.slug == site_slug)
    return [tuple(row) for row in session.execute(query)] + [tuple(row) for row in session.execute(suggested)]
