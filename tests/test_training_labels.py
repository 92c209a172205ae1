"""Retraining on moderators' labels (models/labels.py, `python -m models.train --with-labels`):
real comments, checked by the real workers and judged through moderation.review, read back
from SQLite and PostgreSQL as training rows."""
import json

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from conftest import require_datasets
from models.datasets import ATTRIBUTES, finish, load_task, split_key
from models.labels import DATASET, DEFAULT_DATABASE_URL, add_labels, keep_labels, load_labels
from models.scoring import load_model
from models.train import balance_weights, main, parse_args, train
from moderation.db import transaction
from moderation.moderators import create_moderator
from moderation.queue import find_comments
from moderation.review import moderate
from moderation.sites import create_site
from moderation.tables import Article, Moderator

HAM = "Semoga kolam retensi di Tirtamulya selesai sebelum musim hujan tahun depan."
HAM_LINK = "Peta titik banjirnya ada di https://tirtamulya.example/peta, cukup lengkap."
SPAM = "SLOT GACOR hari ini pasti maxwin, daftar sekarang bit.ly/contoh-gacor-demo"
SPAM_EN = "Earn $500 a day from home, no experience needed, click here now!!"
TOXIC = "Dasar pejabat tolol, otak udang semua!"
OFF_TOPIC = "Ada yang tahu jadwal pertandingan sepak bola malam ini?"
VERDICTS = {HAM: ("approve", None), HAM_LINK: ("approve", None), SPAM: ("spam", None),
            SPAM_EN: ("reject", "spam"), TOXIC: ("reject", "toxic"), OFF_TOPIC: ("reject", "off_topic")}
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def judge(app, client, work, comment_payload):
    """Post comments to a premoderated thread of a site, run their checks, and give each the
    verdict VERDICTS (or `verdicts`) names, as the admin moderator `mira`."""

    def run(auth, verdicts=VERDICTS, article_id="tirtamulya-banjir"):
        ids = {}
        for number, content in enumerate(verdicts):  # one author each: flood limits count per author
            payload = comment_payload(article_id=article_id, content=content, author_email=f"warga{number}@example.co.id")
            response = client.post("/api/v1/comments", json=payload, headers=auth)
            assert response.status_code == 202, response.get_json()
            ids[content] = response.get_json()["id"]
        with transaction(app.extensions["sessions"]) as session:
            session.execute(update(Article).where(Article.external_id == article_id).values(premoderated=True))
        work()
        with transaction(app.extensions["sessions"]) as session:
            mira = session.scalar(select(Moderator).where(Moderator.username == "mira"))
            mira = mira or create_moderator(session, "mira", "correct horse battery", "admin")
            for content, (action, reason) in verdicts.items():
                outcome = moderate(session, mira, find_comments(session, mira, [ids[content]]), action, reason)
                assert outcome.changed == [ids[content]]
        return ids

    return run


def other_site(app) -> dict:
    with transaction(app.extensions["sessions"]) as session:
        _, key = create_site(session, "kabar-kota", "Kabar Kota")
    return {"Authorization": f"Bearer {key}"}


def test_load_labels_returns_the_moderators_verdicts(app, site, judge, database_url):
    judge(site["auth"])
    spam = load_labels(database_url, "spam")
    assert sorted(zip(spam["raw"], spam["label"], spam["site"])) == sorted(
        [(HAM, 0, "poros-warta"), (HAM_LINK, 0, "poros-warta"), (SPAM, 1, "poros-warta"), (SPAM_EN, 1, "poros-warta")])
    toxicity = load_labels(database_url, "toxicity")
    assert sorted(zip(toxicity["raw"], toxicity["label"])) == sorted([(HAM, 0), (HAM_LINK, 0), (TOXIC, 1)])
    for task, labels in (("spam", spam), ("toxicity", toxicity)):
        assert (labels["key"] == labels["raw"].map(split_key)).all()
        assert (labels["strata"] == labels["label"]).all()
        assert labels[list(ATTRIBUTES[task])].isna().all().all()
    # cleaned as each task's public texts are: the toxicity sets are tweets, links removed
    assert spam.loc[spam["raw"] == HAM_LINK, "text"].item() == HAM_LINK
    cleaned = toxicity.loc[toxicity["raw"] == HAM_LINK, "text"].item()
    assert "https://" not in cleaned and cleaned.startswith("Peta titik banjirnya ada di")


def test_load_labels_of_one_site(app, site, judge, database_url):
    judge(site["auth"])
    judge(other_site(app), {"Banjir kemarin cepat surut, terima kasih petugas.": ("approve", None),
                            "Pinjaman cair 5 menit tanpa jaminan, hubungi admin!": ("spam", None)})
    assert len(load_labels(database_url, "spam")) == 6
    mine = load_labels(database_url, "spam", "kabar-kota")
    assert sorted(zip(mine["label"], mine["site"])) == [(0, "kabar-kota"), (1, "kabar-kota")]
    assert set(load_labels(database_url, "spam", "poros-warta")["raw"]) == {HAM, HAM_LINK, SPAM, SPAM_EN}
    assert load_labels(database_url, "toxicity", "no-such-site").empty


def test_keep_labels_leaves_out_repeats_and_public_test_texts():
    raw = ["Daftar sekarang s l o t g4c0r", "Nice plan.", "Good plan!", "Nice"]
    labels = finish(pd.DataFrame({"raw": raw, "label": [1, 1, 0, 0], "site": "poros-warta"}).assign(strata=0), False)
    tests = {"some_set": finish(pd.DataFrame({"raw": ["DAFTAR SEKARANG slot gacor", "NICE PLAN"], "label": 1}),
                                 False)}
    kept = keep_labels(labels, tests)  # the first matches a test text once folded, the second as it is
    assert kept["raw"].tolist() == ["Good plan!", "Nice"]
    repeated = pd.concat([labels, labels.assign(label=1 - labels["label"])], ignore_index=True)
    latest = keep_labels(repeated, {})
    assert len(latest) == 4 and latest["label"].tolist() == [0, 0, 1, 1]


@SQLITE_ONLY
@pytest.mark.parametrize("task", ["spam", "toxicity"])
def test_add_labels_joins_the_public_training_frame_as_site_labels(app, site, judge, database_url, task):
    require_datasets()
    judge(site["auth"])
    train_frame, tests = load_task(task)
    labels = keep_labels(load_labels(database_url, task), tests)
    joined = add_labels(train_frame, labels)
    assert list(joined.columns) == list(train_frame.columns)
    assert joined.dtypes.to_dict() == train_frame.dtypes.to_dict()
    added = joined.iloc[len(train_frame):]
    assert len(added) == len(labels) > 0 and (added["dataset"] == DATASET).all()
    assert added["text"].tolist() == labels["text"].tolist()
    assert added[list(ATTRIBUTES[task])].isna().all().all()
    weights = balance_weights(joined["dataset"], joined["label"])
    assert np.isfinite(weights).all() and weights[len(train_frame):].min() > 0


def test_parse_args_reads_the_label_options(monkeypatch, tmp_path):
    args = parse_args(["spam", "--with-labels", "--database-url", "sqlite:///x.db", "--site", "kabar-kota",
                       "--out", str(tmp_path)])
    assert (args.with_labels, args.database_url, args.site, args.out) == (True, "sqlite:///x.db", "kabar-kota",
                                                                         tmp_path)
    monkeypatch.setenv("MODERATION_DATABASE_URL", "postgresql+psycopg://saring@db/saring")
    assert parse_args(["toxicity", "--with-labels"]).database_url == "postgresql+psycopg://saring@db/saring"
    monkeypatch.delenv("MODERATION_DATABASE_URL")
    assert parse_args(["toxicity", "--with-labels"]).database_url == DEFAULT_DATABASE_URL
    assert parse_args(["toxicity"]).with_labels is False
    with pytest.raises(SystemExit):
        parse_args(["spam", "--site", "kabar-kota"])  # --site without --with-labels


@SQLITE_ONLY
def test_main_trains_nothing_without_labels(app, site, database_url, tmp_path, capsys):
    with pytest.raises(SystemExit, match="no spam labels of site poros-warta"):
        main(["spam", "--with-labels", "--database-url", database_url, "--site", "poros-warta",
              "--out", str(tmp_path / "out")])
    missing = tmp_path / "missing.db"
    with pytest.raises(SystemExit, match="cannot read labels.*no SQLite database"):
        main(["spam", "--with-labels", "--database-url", f"sqlite:///{missing}", "--out", str(tmp_path / "out")])
    assert not missing.exists() and not (tmp_path / "out").exists()


def tiny_frame(rows: int, offset: int = 0) -> pd.DataFrame:
    """A few comments in the shape of load_task('spam')'s YouTube rows (two videos)."""
    spam = ["check out my channel {} subscribe", "free gift cards at bit.ly/demo-{}", "win money now {} click"]
    ham = ["great song, I love the chorus {}", "this video made my day {}", "the drummer is amazing {}"]
    numbers = range(offset, offset + rows)
    frame = pd.DataFrame({"raw": [(spam if i % 2 else ham)[i % 3].format(i) for i in numbers],
                          "label": [i % 2 for i in numbers]})
    frame["strata"] = [f"Youtube0{1 + i % 4 // 2}-demo_{i % 2}" for i in numbers]
    return finish(frame, False).assign(dataset="youtube_spam_collection")


@SQLITE_ONLY
@pytest.mark.filterwarnings("ignore:The least populated class")  # 4 labels cannot fill 5 folds
def test_training_with_labels_end_to_end_on_a_tiny_frame(app, site, judge, database_url, tmp_path):
    """The real training code on 60 public-like rows plus the database's labels: the card
    names the labels and measures on the public test set only; the artifact loads and scores."""
    judge(site["auth"])
    labels = load_labels(database_url, "spam")
    public, test = tiny_frame(60), tiny_frame(20, offset=1000).drop(columns="dataset")
    artifact = train("spam", tmp_path, labels=labels, site="poros-warta",
                     frames=(public, {"youtube_spam_collection": test}))
    card = json.loads((tmp_path / "spam.json").read_text())
    assert artifact == tmp_path / "spam.skops"
    assert card["training_command"] == "python -m models.train spam --with-labels --site poros-warta"
    assert {d["dataset"]: d["rows"] for d in card["training_data"]} == {"youtube_spam_collection": 60, DATASET: 4}
    assert list(card["test_metrics"]) == ["youtube_spam_collection"]
    assert card["out_of_fold"][DATASET]["rows"] == 4
    note = next(note for note in card["notes"] if note.startswith("Moderators' labels"))
    assert "4 labelled comments (2 spam)" in note and "poros-warta 4" in note and "public test sets" in note
    assert DATASET in (tmp_path / "spam.md").read_text()
    model = load_model("spam", tmp_path)
    assert model.score("check out my channel, subscribe").probability > model.score("great song").probability
