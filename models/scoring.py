"""Load a committed model once, safely, and score comments with it (used by the workers)."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skops.io
from scipy.special import expit

from models.features import comment_features, comment_frame
from moderation.text import fold

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Every non-builtin type our artifacts hold; a file with any other type is refused.
ALLOWED_TYPES = frozenset({
    "numpy.float32",
    "numpy.ndarray",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.FeatureUnion",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
})
TERMS = 5


class UntrustedArtifact(Exception):
    """A model file holds a type outside ALLOWED_TYPES, so it was not loaded."""


@dataclass(frozen=True)
class Score:
    """P(positive), the attribute probabilities, and the words that pushed the score most."""

    probability: float
    attributes: dict[str, float]
    terms: list[tuple[str, float]]


class Model:
    """A fitted pipeline with its attribute heads, version and thresholds.

    ``score`` applies the pipeline's fitted steps itself (hashing, sublinear tf-idf, l2,
    the scaled signals, one dot product per head), because scikit-learn's per-call checks
    cost a millisecond; ``predict_proba`` goes through the stock pipeline.
    """

    def __init__(self, name: str, version: str, thresholds: dict[str, float], pipeline,
                 heads: dict, attribute_thresholds: dict[str, dict[str, float]] | None = None):
        self.name = name
        self.version = version
        self.thresholds = thresholds
        self.attributes = tuple(heads)
        self.attribute_thresholds = dict(attribute_thresholds or {})
        self._pipeline = pipeline
        self._attribute_heads = heads
        self._branches, self._signals, offset = [], None, 0
        for _, transformer, _ in pipeline.named_steps["features"].transformers_:
            if isinstance(transformer, str):  # "drop"
                continue
            if hasattr(transformer, "mean_"):  # the StandardScaler of the numeric signals
                self._signals = (offset, transformer.mean_, transformer.scale_)
                offset += len(transformer.mean_)
                continue
            hashing, tfidf = transformer
            if not (tfidf.sublinear_tf and tfidf.use_idf and tfidf.norm == "l2"):
                raise ValueError(f"{name}: unexpected tf-idf settings {tfidf}")
            self._branches.append((offset, hashing, tfidf.idf_))
            offset += hashing.n_features
        self._tokenize = self._branches[0][1].build_tokenizer()
        self._heads = {name: (head.coef_.ravel(), float(head.intercept_[0]))
                       for name, head in {"": pipeline[-1], **heads}.items()}

    def score(self, content: str, *, author_name: str | None = None,
              author_url: str | None = None) -> Score:
        """P(positive), the attribute probabilities and the words that pushed it up most."""
        folded = fold(content or "")
        indices, values = self._vectorize(folded)
        if self._signals is not None:
            offset, mean, scale = self._signals
            signals = (np.asarray(comment_features(content, author_name, author_url, folded))
                       - mean) / scale
            indices = np.concatenate([indices, np.arange(offset, offset + len(signals))])
            values = np.concatenate([values, signals])
        probabilities = {name: float(expit(values @ coef[indices] + intercept))
                         for name, (coef, intercept) in self._heads.items()}
        return Score(probability=probabilities.pop(""), attributes=probabilities,
                     terms=self._terms(folded, indices, values))

    def predict_proba(self, texts: list[str], attribute: str | None = None) -> np.ndarray:
        """P(positive) (or of ``attribute``) for each comment text, in one batch, through
        the stock pipeline."""
        x = self._pipeline[:-1].transform(comment_frame(texts))
        head = self._pipeline[-1] if attribute is None else self._attribute_heads[attribute]
        return head.predict_proba(x)[:, 1]

    def _vectorize(self, folded: str) -> tuple[np.ndarray, np.ndarray]:
        """Feature indices and values of the folded text, as the pipeline's branches make them."""
        indices, values = [], []
        for offset, hashing, idf in self._branches:
            counts = hashing.transform([folded])
            tfidf = (np.log(counts.data) + 1) * idf[counts.indices]
            indices.append(counts.indices + offset)
            values.append(tfidf / np.linalg.norm(tfidf) if tfidf.size else tfidf)
        return np.concatenate(indices), np.concatenate(values)

    def _terms(self, folded: str, indices, values) -> list[tuple[str, float]]:
        """Each word's share of the logit: the text's features that the word alone makes."""
        words = list(dict.fromkeys(self._tokenize(folded)))
        if not words:
            return []
        coef = self._heads[""][0]
        weight = dict(zip(indices.tolist(), (values * coef[indices]).tolist()))
        shares = dict.fromkeys(words, 0.0)
        for offset, hashing, _ in self._branches:
            hits = hashing.transform(words)
            for word, start, stop in zip(words, hits.indptr[:-1], hits.indptr[1:]):
                shares[word] += sum(weight.get(i + offset, 0.0)
                                    for i in hits.indices[start:stop].tolist())
        pushed = sorted(shares.items(), key=lambda item: -item[1])[:TERMS]
        return [(word, round(share, 4)) for word, share in pushed if share > 0]


def load_model(name: str, directory: Path | None = None) -> Model:
    """Read ``<name>.skops`` (refusing types outside ALLOWED_TYPES) and ``<name>.json``."""
    directory = directory or ARTIFACTS
    artifact = directory / f"{name}.skops"
    untrusted = skops.io.get_untrusted_types(file=artifact)
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise UntrustedArtifact(f"{artifact} holds types outside the allow-list: {refused}")
    model = skops.io.load(artifact, trusted=untrusted)
    card = json.loads((directory / f"{name}.json").read_text())
    return Model(name, card["version"], card["thresholds"], model["pipeline"],
                 model["attributes"], card.get("attribute_thresholds", {}))
