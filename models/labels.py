"""Moderators' labels as training rows: ``python -m models.train spam --with-labels``.

The labels a Saring database holds (moderation.labels: a moderator's verdict on a comment,
spam / ham or toxic / clean) join the public training data as one more data set,
``site_labels``, with the same columns as the public rows. They are training rows only:
no labelled comment enters a test split, and a labelled text that is in a public test set
is left out, so the held-out figures stay held out.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from models.datasets import ATTRIBUTES, SITE_LABELS as DATASET, finish, overlap_keys, split_key
from moderation.labels import training_rows
from moderation.text import fold

DEFAULT_DATABASE_URL = "sqlite:///instance/saring.db"
TWEETS = {"spam": False, "toxicity": True}  # the task's public sets are tweets: clean alike


def database_url(url: str | None = None) -> str:
    """``url``, else $MODERATION_DATABASE_URL, else the `make run` database."""
    return url or os.environ.get("MODERATION_DATABASE_URL") or DEFAULT_DATABASE_URL


def describe_url(url: str) -> str:
    """A database URL fit to print: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def load_labels(url: str, task: str, site: str | None = None) -> pd.DataFrame:
    """One row per label of ``task`` in the database (only ``site``'s, if given), oldest
    first: the public sets' columns (``raw``, ``text`` cleaned as the task's public texts,
    ``label``, ``key``, ``strata``, the task's attributes as NaN) and the ``site`` slug.
    A SQLite file that does not exist is an error, not a new empty database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).is_file():
        raise FileNotFoundError(f"no SQLite database at {parsed.database}")
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            rows = training_rows(session, task, site)
    finally:
        engine.dispose()
    found = pd.DataFrame(rows, columns=["raw", "label", "site"])
    labels = finish(found.assign(strata=found["label"]), TWEETS[task])
    return labels.assign(**dict.fromkeys(ATTRIBUTES[task], np.nan))


def keep_labels(labels: pd.DataFrame, tests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The labels worth training on: the latest of a repeated text, and none whose key
    (raw or folded) is in a public test set."""
    labels = labels.drop_duplicates("key", keep="last")
    held_out = set().union(*(overlap_keys(test) for test in tests.values()))
    folded = labels["text"].map(fold).map(split_key)
    return labels[~(labels["key"].isin(held_out) | folded.isin(held_out))].reset_index(drop=True)


def add_labels(train_frame: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``train_frame`` and then the labels as the data set ``site_labels``, with exactly
    ``train_frame``'s columns and dtypes."""
    rows = labels.assign(dataset=DATASET).reindex(columns=train_frame.columns)
    rows = rows.astype(train_frame.dtypes.to_dict())
    return pd.concat([train_frame, rows], ignore_index=True)


def describe_labels(loaded: pd.DataFrame, kept: pd.DataFrame, task: str) -> str:
    """The model card's note on what the labels added."""
    positive = {"spam": "spam", "toxicity": "toxic"}[task]
    counts = kept["site"].value_counts().sort_index()
    sites = ", ".join(f"{site} {count}" for site, count in counts.items())
    left_out = len(loaded) - len(kept)
    return (f"Moderators' labels: {len(kept)} labelled comments ({int(kept['label'].sum())} "
            f"{positive}) from the Saring database were added as the training set "
            f"{DATASET} (by site: {sites or 'none'}); {left_out} of the {len(loaded)} labels "
            f"were left out (a repeated text, or a text in a public test set). They are "
            f"training rows only: every held-out figure on this card is still measured on "
            f"the public test sets, and the out-of-fold row '{DATASET}' shows how the model "
            f"does on the site's own comments.")
