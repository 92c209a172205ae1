"""The committed model artifacts: size, safe loading, a fixed regression set, and the splits."""

import hashlib
import json

import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from conftest import require_datasets
from models.datasets import split_dataset
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
    ("spam", "blokir situs judi!", False),
    ("spam", "jangan main slot, rugi", False),
    ("spam", "Pemerintah harus blokir semua situs judi online, sudah banyak korban", False),
    ("spam", "Stop judol! Anak muda jangan tergiur iklan slot gacor", False),
    ("spam", "Info slot gacor hari ini, daftar di GACOR777 deposit 10rb auto maxwin", True),
    ("spam", "Hubungi WA 081234567890 untuk pinjaman cepat tanpa jaminan", True),
    ("spam", "I disagree with the minister, the budget cuts will hurt schools.", False),
    ("spam", "This article is misleading about the election results", False),
    ("spam", "Terima kasih atas beritanya, sangat informatif", False),
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
    ("toxicity", "I disagree with the minister, the budget cuts will hurt schools.", False),
    ("toxicity-commercial", "You are a fucking idiot", True),
    ("toxicity-commercial", "shut up you stupid moron", True),
    ("toxicity-commercial", "Great article, very well written", False),
    ("toxicity-commercial", "Thanks for the update, hope everyone stays safe", False),
    ("toxicity-commercial", "The referee made a terrible call in the second half", False),
    ("toxicity-commercial", "Terima kasih atas beritanya, sangat informatif", False),
    ("toxicity-commercial", "Mantap pak gubernur, lanjutkan programnya", False),
]
# Comments the current models get wrong (out-of-domain or missing training data).
KNOWN_MISSES = [
    ("spam", "Kasihan keluarganya, habis semua hartanya gara-gara judi slot", False),
    ("toxicity", "Semoga korban banjir segera mendapat bantuan", False),
    ("toxicity", "I respectfully disagree with this analysis", False),
    ("toxicity-commercial", "I respectfully disagree with this analysis", False),
    # The licence-clean model has no Indonesian toxicity data.
    ("toxicity-commercial", "dasar goblok lu, otak udang", True),
    ("toxicity-commercial", "anjing lo bangsat", True),
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


ARTIFACT_NAMES = sorted(path.stem for path in ARTIFACTS.glob("*.skops"))
TOXICITY_ATTRIBUTES = ("abusive", "insult", "hate", "identity_attack")


@pytest.fixture(scope="module")
def models() -> dict[str, Model]:
    return {name: load_model(name) for name in ARTIFACT_NAMES}


def test_both_checks_have_a_committed_artifact():
    assert {"spam", "toxicity"} <= set(ARTIFACT_NAMES)


@pytest.mark.parametrize("name", ARTIFACT_NAMES)
def test_every_artifact_is_small_and_matches_its_card(name, models):
    artifact = ARTIFACTS / f"{name}.skops"
    assert artifact.stat().st_size <= MAX_BYTES
    card = json.loads((ARTIFACTS / f"{name}.json").read_text())
    model = models[name]
    assert model.version == card["version"] and model.version.startswith(f"{name}-")
    assert card["artifact"]["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert 0 < model.thresholds["flag"] <= model.thresholds["reject"] <= 1
    assert set(model.attribute_thresholds) == set(model.attributes)
    for thresholds in model.attribute_thresholds.values():
        assert 0 < thresholds["flag"] <= thresholds["reject"] <= 1
    assert set(card["test_metrics"]) and card["training_data"]
    markdown = (ARTIFACTS / f"{name}.md").read_text()
    assert "<!-- report:begin -->" in markdown and "<!-- report:end -->" in markdown


def test_the_commercial_toxicity_model_leaves_out_noncommercial_data():
    card = json.loads((ARTIFACTS / "toxicity-commercial.json").read_text())
    assert all("NC" not in row["licence"] for row in card["training_data"])


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
    texts = ["𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 m4xw1n", "anjing lo", "Great article", "", "🔥",
             "WA 0812-3456-7890 bit.ly/promo www.slot88.com"]
    for model in models.values():
        batch = model.predict_proba(texts)
        for i, (text, expected) in enumerate(zip(texts, batch)):
            score = model.score(text)
            assert isinstance(score, Score)
            assert score.probability == pytest.approx(expected, abs=1e-5)
            assert set(score.attributes) == set(model.attributes)
            for attribute in model.attributes:
                assert score.attributes[attribute] == pytest.approx(
                    model.predict_proba(texts, attribute=attribute)[i], abs=1e-5)
    for name in ("toxicity", "toxicity-commercial"):
        assert models[name].attributes == TOXICITY_ATTRIBUTES
    assert models["spam"].attributes == ()


@pytest.mark.parametrize(("text", "attribute", "high"), [
    ("You are a fucking idiot", "insult", True),
    ("dasar goblok lu, otak udang", "abusive", True),
    ("anjing lo bangsat", "abusive", True),
    ("Terima kasih atas beritanya, sangat informatif", "abusive", False),
    ("Great article, very well written", "insult", False),
    ("Great article, very well written", "identity_attack", False),
])
def test_attribute_heads_land_on_the_right_side_of_their_flag(models, text, attribute, high):
    model = models["toxicity"]
    score = model.score(text).attributes[attribute]
    assert (score >= model.attribute_thresholds[attribute]["flag"]) is high


def test_author_fields_are_accepted_and_change_nothing_for_a_plain_author(models):
    model = models["spam"]
    text = "Harga beras naik terus, rakyat kecil makin susah"
    plain = model.score(text).probability
    assert model.score(text, author_name=None, author_url=None).probability == plain
    assert 0 <= model.score(text, author_name="Budi", author_url="https://example.com").probability <= 1


def shout(texts):
    return [text.upper() for text in texts]


def test_untrusted_types_are_refused(tmp_path):
    pipeline = make_pipeline(FunctionTransformer(shout), LogisticRegression())
    skops.io.dump({"pipeline": pipeline, "attributes": {}}, tmp_path / "evil.skops")
    (tmp_path / "evil.json").write_text('{"version": "evil-1", "thresholds": {}}')
    with pytest.raises(UntrustedArtifact, match="shout"):
        load_model("evil", tmp_path)


@pytest.mark.parametrize(("name", "expected"), README_SPLITS.items())
def test_stored_splits_reproduce_the_readme_counts(name, expected):
    require_datasets()
    train, test = split_dataset(name)
    assert (len(train), len(test), int(test["label"].sum())) == expected
