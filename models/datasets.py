"""The public labelled data sets, their split A, and the training/test frames per task.

Every frame has the columns ``text`` (cleaned of dataset placeholders), ``label`` (0/1),
``key`` (the split-A dedup key) and, for toxicity, the attribute columns (NaN where the
data set does not define them). Run ``python -m models.datasets`` to rewrite the stored
splits in ``models/splits/`` and print their row counts.
"""

import csv
import hashlib
import html
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from moderation.text import fold

REPO = Path(__file__).resolve().parent.parent
SPLITS_DIR = Path(__file__).resolve().parent / "splits"

LICENCES = {
    "youtube_spam_collection": "not stated in the copy (UCI lists CC BY 4.0; verify)",
    "id_sms_spam": "CC BY-SA 4.0",
    "id_gambling_spam_ytcomments": "MIT",
    "id_gambling_spam_llmjudol": "MIT (stated in README, no LICENSE file)",
    "id_hate_abusive_ibrohim2019":
        "CC BY-NC-SA 4.0 (non-commercial: legal review before a paid product)",
    "en_hate_offensive_davidson": "MIT",
    "en_olid": "not stated",
    "site_labels": "the site's own readers' comments (the site's terms apply)",
}
LABELS = {
    "youtube_spam_collection": "CLASS == 1",
    "id_sms_spam": "label in {1 fraud, 2 promotion}",
    "id_gambling_spam_ytcomments": "label == 1 (hand-labelled)",
    "id_gambling_spam_llmjudol": "label == 1 (label 0 never reviewed)",
    "id_hate_abusive_ibrohim2019": "HS or Abusive",
    "en_hate_offensive_davidson": "class in {0 hate, 1 offensive}",
    "en_olid": "subtask_a == OFF",
    "site_labels": "a moderator's verdict (moderation.labels.VERDICTS; models.labels)",
}
SITE_LABELS = "site_labels"  # moderators' labels from a Saring database (--with-labels)
ATTRIBUTE_SOURCES = {
    "abusive": "Ibrohim Abusive; Davidson offensive vs neither (hate left out); "
               "OLID OFF+UNT (untargeted profanity) vs NOT (TIN left out)",
    "insult": "Ibrohim HS_Individual; OLID OFF+TIN+IND vs NOT or UNT (TIN at a group or "
              "other left out)",
    "hate": "Ibrohim HS (includes strong political opinion); Davidson hate vs the rest",
    "identity_attack": "Ibrohim HS_Religion, HS_Race or HS_Gender; Davidson hate vs the rest; "
                       "OLID OFF+TIN+GRP vs NOT (other OFF left out)",
}
NO_DATA_ATTRIBUTES = {"threat": "no training set labels threats (OLID's TIN joins insults "
                                "and threats), so there is no threat head"}
TASKS = {
    "spam": ("youtube_spam_collection", "id_sms_spam",
             "id_gambling_spam_ytcomments", "id_gambling_spam_llmjudol"),
    "toxicity": ("id_hate_abusive_ibrohim2019", "en_hate_offensive_davidson", "en_olid"),
}
ATTRIBUTES = {"toxicity": ("abusive", "insult", "hate", "identity_attack"), "spam": ()}
# Data sets whose licence forbids commercial use: left out by --exclude-noncommercial.
NONCOMMERCIAL = frozenset({"id_hate_abusive_ibrohim2019"})
# Drop from one set's training part every text whose key is in the other's test part.
OVERLAPPING = {
    "id_gambling_spam_ytcomments": "id_gambling_spam_llmjudol",
    "id_gambling_spam_llmjudol": "id_gambling_spam_ytcomments",
}

# Twitter placeholders, handles and links, and Ibrohim's literal "\\n" and "\\xf0" escapes.
_TWITTER_NOISE = re.compile(r"\\n|\\x[0-9a-f]{2}|\bRT\b|@\w+|\bUSER\b|\bURL\b|https?://\S+")


def datasets_dir() -> Path:
    """The shared data folder: $MODERATION_DATASETS_DIR or ../shared/datasets."""
    return Path(os.environ.get("MODERATION_DATASETS_DIR", REPO.parent / "shared" / "datasets"))


def split_key(text: str) -> str:
    """The split-A dedup key: lowercase alphanumerics, or the raw text when none."""
    return re.sub(r"[^0-9a-z]+", "", text.lower()) or text


def hash_key(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


def _clean_tweet(text: str) -> str:
    return _TWITTER_NOISE.sub(" ", html.unescape(text))


def _read_youtube(folder: Path) -> pd.DataFrame:
    parts = []
    for path in sorted(folder.glob("Youtube0*.csv")):
        part = pd.read_csv(path)
        parts.append(part.assign(video=path.stem))
    df = pd.concat(parts, ignore_index=True)
    return pd.DataFrame({"raw": df["CONTENT"], "label": df["CLASS"],
                         "strata": df["video"] + "_" + df["CLASS"].astype(str)})


def _read_sms(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "dataset_sms_spam_v1.csv")
    return pd.DataFrame({"raw": df["Teks"], "label": df["label"].isin([1, 2]).astype(int),
                         "strata": df["label"]})


def _read_ytcomments(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "dataset_judol_labelled_textonly.csv")
    return pd.DataFrame({"raw": df["comment_text"], "label": df["label"], "strata": df["label"]})


def _read_llmjudol(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "dataset_textonly.csv")
    return pd.DataFrame({"raw": df["comment"], "label": df["label"], "strata": df["label"]})


def _read_ibrohim(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "re_dataset.csv", encoding="latin-1")
    identity = df[["HS_Religion", "HS_Race", "HS_Gender"]].max(axis=1)
    return pd.DataFrame({
        "raw": df["Tweet"], "label": (df["HS"] | df["Abusive"]),
        "strata": df["HS"].astype(str) + df["Abusive"].astype(str),
        "abusive": df["Abusive"], "insult": df["HS_Individual"], "hate": df["HS"],
        "identity_attack": identity,
    })


def _read_davidson(folder: Path) -> pd.DataFrame:
    df = pd.read_csv(folder / "labeled_data.csv")
    cls = df["class"]
    return pd.DataFrame({
        "raw": df["tweet"], "label": cls.isin([0, 1]).astype(int), "strata": cls,
        "abusive": cls.map({1: 1, 2: 0}),  # hate (0): unknown
        "insult": np.nan, "hate": (cls == 0).astype(int), "identity_attack": (cls == 0).astype(int),
    })


def _olid_frame(tweets: pd.Series, a: pd.Series, b: pd.Series, c: pd.Series) -> pd.DataFrame:
    offensive = (a == "OFF").astype(int)
    negative = (a == "NOT").to_numpy()
    return pd.DataFrame({
        "raw": tweets, "label": offensive, "strata": offensive,
        "abusive": np.where(b == "UNT", 1.0, np.where(negative, 0.0, np.nan)),
        "insult": np.where(c == "IND", 1.0, np.where(negative | (b == "UNT"), 0.0, np.nan)),
        "hate": np.nan,
        "identity_attack": np.where(c == "GRP", 1.0, np.where(negative, 0.0, np.nan)),
    })


def _read_olid(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    tsv = {"sep": "\t", "quoting": csv.QUOTE_NONE, "dtype": {"id": str}}
    train = pd.read_csv(folder / "olid-training-v1.0.tsv", **tsv)
    test = pd.read_csv(folder / "testset-levela.tsv", **tsv)
    for level in "abc":  # the labels files: id,subtask_x (b: OFF tweets only; c: TIN only)
        labels = pd.read_csv(folder / f"labels-level{level}.csv", dtype=str)
        test = test.merge(labels, on="id", how="left", validate="one_to_one")
    return (_olid_frame(train["tweet"], train["subtask_a"], train["subtask_b"],
                        train["subtask_c"]),
            _olid_frame(test["tweet"], *(test[f"subtask_{level}"].str.strip()
                                         for level in "abc")))


_READERS = {
    "youtube_spam_collection": (_read_youtube, False),
    "id_sms_spam": (_read_sms, False),
    "id_gambling_spam_ytcomments": (_read_ytcomments, False),
    "id_gambling_spam_llmjudol": (_read_llmjudol, False),
    "id_hate_abusive_ibrohim2019": (_read_ibrohim, True),
    "en_hate_offensive_davidson": (_read_davidson, True),
}


def finish(df: pd.DataFrame, tweets: bool) -> pd.DataFrame:
    df = df.assign(raw=df["raw"].fillna("").astype(str))
    df["key"] = df["raw"].map(split_key)
    df["text"] = df["raw"].map(_clean_tweet) if tweets else df["raw"]
    df["label"] = df["label"].astype(int)
    return df.reset_index(drop=True)


def read_dataset(name: str) -> pd.DataFrame:
    """One split-A data set, deduplicated on the split key (first occurrence kept)."""
    read, tweets = _READERS[name]
    df = finish(read(datasets_dir() / name), tweets)
    return df.drop_duplicates("key", keep="first").reset_index(drop=True)


def draw_split(df: pd.DataFrame) -> pd.DataFrame:
    """Seeded split A: the test part, drawn with scikit-learn."""
    _, test = train_test_split(df, test_size=0.2, random_state=42, stratify=df["strata"])
    return test


def split_path(name: str) -> Path:
    return SPLITS_DIR / f"{name}.test.txt"


def split_dataset(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) of a data set: the stored split A, or OLID's publisher split."""
    if name == "en_olid":
        train, test = _read_olid(datasets_dir() / name)
        return finish(train, True), finish(test, True)
    df = read_dataset(name)
    test_hashes = set(split_path(name).read_text().split())
    in_test = df["key"].map(hash_key).isin(test_hashes)
    return df[~in_test].reset_index(drop=True), df[in_test].reset_index(drop=True)


def overlap_keys(df: pd.DataFrame) -> set[str]:
    return set(df["key"]) | set(df["text"].map(fold).map(split_key))


def load_task(task: str, exclude=frozenset()) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The pooled training frame (with a ``dataset`` column), leaving out the data sets named
    in ``exclude``, and every data set's held-out test frame (excluded ones too)."""
    splits = {name: split_dataset(name) for name in TASKS[task]}
    trains, tests = [], {}
    for name, (train, test) in splits.items():
        tests[name] = test
        if name in exclude:
            continue
        if name in OVERLAPPING:
            other = overlap_keys(splits[OVERLAPPING[name]][1])
            folded = train["text"].map(fold).map(split_key)
            train = train[~(train["key"].isin(other) | folded.isin(other))]
        trains.append(train.assign(dataset=name))
    return pd.concat(trains, ignore_index=True), tests


def write_splits() -> None:
    """Draw split A for every data set and store the test part as sorted key hashes."""
    SPLITS_DIR.mkdir(exist_ok=True)
    for name in _READERS:
        df = read_dataset(name)
        test = draw_split(df)
        split_path(name).write_text("".join(sorted(h + "\n" for h in test["key"].map(hash_key))))
        positives = test["strata"].value_counts().sort_index().to_dict()
        print(f"{name}: {len(df)} rows, train {len(df) - len(test)}, test {len(test)} {positives}")


if __name__ == "__main__":
    write_splits()
