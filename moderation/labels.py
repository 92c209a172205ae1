"""Training labels from moderators' verdicts, and how often those verdicts overturn the model.

A verdict labels the checks it speaks for: approving says ham and clean; marking spam (or
rejecting as spam) says spam; rejecting as toxic or as a personal attack says toxic. Other
reasons (off-topic, illegal, other) say nothing a model was asked, so they label nothing.
A label overturns the model when it disagrees with what the check asked for (a flag or a
rejection means the model called the comment spam, or toxic)."""
from sqlalchemy import Integer, case, func, select
from sqlalchemy.orm import Session

from .decisions import judge
from .tables import Comment, Label, Site

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


def record_labels(session: Session, comment: Comment, action: str, reason: str | None, actor: str,
                  source: str = "moderator") -> list[Label]:
    """Store (or replace) the labels a verdict gives a comment, with the model's own call."""
    verdict = VERDICTS.get((action, reason), {})
    results = {result.check: result for result in comment.checks}
    labels = []
    for check, value in verdict.items():
        label = session.scalar(select(Label).where(Label.comment_id == comment.id, Label.check == check))
        if label is None:
            label = Label(comment_id=comment.id, site_id=comment.site_id, check=check)
            session.add(label)
        result = results.get(check)
        scored = result is not None and result.score is not None
        label.value, label.source, label.created_by = value, source, actor
        label.model_version = result.model_version if result else None
        label.model_score = result.score if scored else None
        label.overturned = (value == 1) != (judge(check, result) is not None) if scored else None
        labels.append(label)
    return labels


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
    """(content, label, site slug) of every labelled comment for a check, for retraining."""
    query = (
        select(Comment.content, Label.value, Site.slug)
        .join(Comment, Comment.id == Label.comment_id)
        .join(Site, Site.id == Label.site_id)
        .where(Label.check == check)
        .order_by(Label.id)
    )
    if site_slug:
        query = query.where(Site.slug == site_slug)
    return [tuple(row) for row in session.execute(query)]
