"""The committed model artifacts: size, safe loading, a fixed regression set, and the splits."""

import json
import os

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from models.datasets import datasets_dir, split_dataset
from models.scoring import ARTIFACTS, Model, Score, UntrustedArtifact, load_model

MAX_BYTES = 25 * 1024 * 1024

# (model, text, should the text reach the flag threshold?)
REGRESSION = [
    ("spam", "𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 m4xw1n daftar sekarang", True),
    ("spam", "Main di P U L A U W I N auto jackpot, wd lancar terus bosku! 🔥🔥", True),
    ("spam", "yuk gabung situs slot gacor hari ini, deposit 10rb langsung maxwin", True),
    ("spam", "Buruan daftar di ⓜⓔⓖⓐⓑⓔⓣ⑨⑨ bonus new member 100%", True),
    ("spam", "check out my channel subscribe", True),
    ("spam", "Hey guys check out my new video and please subscribe to my channel!", True),
    ("spam", "Semoga pemerintah cepat tanggap menangani banjir di Jakarta", False),
    ("spam", "Harga beras naik terus, rakyat kecil makin susah", False),
    ("spam", "Kapan jalan tol ini selesai dibangun?", False),
    ("spam", "Judi online harus diberantas, banyak keluarga hancur karena slot", False),
    ("spam", "I disagree with the minister, the budget cuts will hurt schools.", False),
    ("spam", "This article is misleading about the election results", False),
    ("toxicity", "dasar goblok lu, otak udang", True),
    ("toxicity", "anjing lo bangsat", True),
    ("toxicity", "kontol, tolol banget sih pejabat ini", True),
    ("toxicity", "You are a fucking idiot", True),
    ("toxicity", "shut up you stupid moron", True),
    ("toxicity", "Terima kasih atas beritanya, sangat informatif", False),
    ("toxicity", "Menurut saya kebijakan ini kurang tepat, perlu dikaji ulang", False),
    ("toxicity", "Mantap pak gubernur, lanjutkan programnya", False),
    ("toxicity", "Great article, very well written", False),
    ("toxicity", "Thanks for the update, hope everyone stays safe", False),
    ("toxicity", "The referee made a terrible call in the second half", False),
]
# Benign news comments the current models get wrong (out-of-domain training data).
KNOWN_MISSES = [
    ("spam", "Terima kasih atas beritanya, sangat informatif", False),
    ("toxicity", "Semoga korban banjir segera mendapat bantuan", False),
    ("toxicity", "I respectfully disagree with this analysis", False),
    ("toxicity", "I disagree with the minister, the budget cuts will hurt schools.", False),
]
README_SPLITS = {  # dataset: (train rows, test rows, test positives), top-level README
    "youtube_spam_collection": (1340, 335, 164),
    "id_hate_abusive_ibrohim2019": (10353, 2589, 1442),
    "id_sms_spam": (912, 228, 115),
    "en_hate_offensive_davidson": (19785, 4947, 4115),
    "id_gambling_spam_ytcomments": (24797, 6200, 1030),
    "id_gambling_spam_llmjudol": (14616, 3654, 1640),
    "en_olid": (13240, 860, 240),
}


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return {name: load_model(name) for name in ("spam", "toxicity")}


@pytest.mark.parametrize("name", ["spam", "toxicity"])
def test_artifact_is_small_and_loads_with_version_and_thresholds(name, models):
    assert (ARTIFACTS / f"{name}.skops").stat().st_size <= MAX_BYTES
    model = models[name]
    assert model.version.startswith(f"{name}-")
    assert 0 < model.thresholds["flag"] <= model.thresholds["reject"] <= 1
    card = json.loads((ARTIFACTS / f"{name}.json").read_text())
    assert set(card["test_metrics"]) and card["training_data"]


@pytest.mark.parametrize(("name", "text", "positive"), REGRESSION + [
    pytest.param(*case, marks=pytest.mark.xfail(reason="known miss", strict=False))
    for case in KNOWN_MISSES
])
def test_regression_examples_land_on_the_right_side_of_flag(models, name, text, positive):
    model = models[name]
    assert (model.score(text).probability >= model.thresholds["flag"]) is positive


@pytest.mark.parametrize(("name", "text", "word"), [
    ("spam", "𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 m4xw1n daftar sekarang", "gacor"),
    ("spam", "check out my channel subscribe", "subscribe"),
    ("toxicity", "dasar goblok lu, otak udang", "goblok"),
    ("toxicity", "You are a fucking idiot", "idiot"),
])
def test_terms_name_the_driving_word(models, name, text, word):
    terms = models[name].score(text).terms
    assert word in dict(terms)
    assert len(terms) <= 5 and all(share > 0 for _, share in terms)


def test_score_matches_the_pipeline_and_carries_attributes(models):
    texts = ["𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 m4xw1n", "anjing lo", "Great article", "", "🔥"]
    for model in models.values():
        batch = model.predict_proba(texts)
        for text, expected in zip(texts, batch):
            score = model.score(text)
            assert isinstance(score, Score)
            assert score.probability == pytest.approx(expected, abs=1e-5)
            assert set(score.attributes) == set(model.attributes)
    assert models["toxicity"].attributes == ("insult", "profanity", "identity_attack")
    assert models["spam"].attributes == ()
    assert models["toxicity"].score("You are a fucking idiot").attributes["insult"] > 0.5


def shout(texts):
    return [text.upper() for text in texts]


def test_untrusted_types_are_refused(tmp_path):
    pipeline = make_pipeline(FunctionTransformer(shout), LogisticRegression())
    skops.io.dump({"pipeline": pipeline, "attributes": {}}, tmp_path / "evil.skops")
    (tmp_path / "evil.json").write_text('{"version": "evil-1", "thresholds": {}}')
    with pytest.raises(UntrustedArtifact, match="shout"):
        load_model("evil", tmp_path)


def require_datasets():
    """Skip without the public data sets, except in CI, where their absence is a failure."""
    if not datasets_dir().is_dir():
        reason = f"public datasets not found at {datasets_dir()} (set MODERATION_DATASETS_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.parametrize(("name", "expected"), README_SPLITS.items())
def test_stored_splits_reproduce_the_readme_counts(name, expected):
    require_datasets()
    train, test = split_dataset(name)
    assert (len(train), len(test), int(test["label"].sum())) == expected
