"""Train a check's model from the public data: ``python -m models.train spam|toxicity``.

Writes ``<name>.skops`` (a dict holding the scikit-learn pipeline and the attribute heads),
``<name>.json`` and ``<name>.md`` (the model card) into ``--out`` (default models/artifacts).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline

from models import metrics
from models.cards import write_artifacts
from models.datasets import ATTRIBUTES, load_task
from moderation.text import fold

SEED = 42
C = 8.0  # chosen by 5-fold cross-validation on the spam and toxicity training data
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def build_pipeline() -> Pipeline:
    """Hashed word 1-2 grams and char_wb 2-5 grams, each tf-idf weighted, into a logistic model."""
    words = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False,
                              norm=None, lowercase=False, dtype=np.float32)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=2**19,
                              alternate_sign=False, norm=None, lowercase=False,
                              dtype=np.float32)
    features = FeatureUnion([
        ("words", make_pipeline(words, TfidfTransformer(sublinear_tf=True))),
        ("chars", make_pipeline(chars, TfidfTransformer(sublinear_tf=True))),
    ])
    return Pipeline([("features", features), ("classifier", build_head())])


def build_head() -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=2000, random_state=SEED)


def balance_weights(datasets: pd.Series, labels: pd.Series) -> np.ndarray:
    """Weights giving each data set's two classes equal weight, so its prior is no cue."""
    counts = labels.groupby([datasets, labels]).transform("size")
    return (datasets.map(datasets.value_counts()) / (2 * counts)).to_numpy()


def choose_thresholds(y_true, oof, reject_precision: float) -> dict[str, float]:
    """flag maximises out-of-fold F1; reject is the lowest ≥ flag reaching the precision."""
    flag = metrics.best_f1_threshold(y_true, oof)
    reject = metrics.precision_threshold(y_true, oof, reject_precision, floor=flag)
    return {"flag": round(flag, 4), "reject": round(reject if reject is not None else 1.0, 4)}


def fit_attributes(x, train: pd.DataFrame, names) -> dict[str, LogisticRegression]:
    """One logistic head per attribute, on the rows whose data set defines it."""
    heads = {}
    for name in names:
        known = train[name].notna().to_numpy()
        heads[name] = build_head().fit(x[known], train.loc[known, name].astype(int))
    return heads


def measure_tests(pipeline, heads, tests, thresholds) -> dict:
    """Held-out figures per test set; attribute heads where the test set defines them."""
    results = {}
    for name, test in tests.items():
        x = pipeline[:-1].transform(test["text"].map(fold))
        result = metrics.measure(test["label"], pipeline[-1].predict_proba(x)[:, 1],
                                 thresholds["flag"])
        for attribute, head in heads.items():
            known = test[attribute].notna().to_numpy()
            if known.any():
                result[attribute] = metrics.measure(test.loc[known, attribute],
                                                    head.predict_proba(x[known])[:, 1])
        results[name] = result
    return results


def train(task: str, out: Path, reject_precision: float = 0.99) -> Path:
    """Fit, choose thresholds out of fold, measure on the held-out sets, write the artifacts."""
    started = time.perf_counter()
    train_frame, tests = load_task(task)
    texts, y = train_frame["text"].map(fold), train_frame["label"].to_numpy()
    pipeline = build_pipeline()
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    strata = train_frame["dataset"] + train_frame["label"].astype(str)
    weights = {"classifier__sample_weight": balance_weights(train_frame["dataset"],
                                                            train_frame["label"])}
    oof = cross_val_predict(pipeline, texts, y, cv=folds.split(texts, strata),
                            method="predict_proba", n_jobs=2, params=weights)[:, 1]
    thresholds = choose_thresholds(y, oof, reject_precision)
    pipeline.fit(texts, y, **weights)
    heads = fit_attributes(pipeline[:-1].transform(texts), train_frame, ATTRIBUTES[task])
    return write_artifacts(
        task, {"pipeline": pipeline, "attributes": heads}, out,
        train=train_frame, thresholds=thresholds, reject_precision=reject_precision,
        oof=metrics.measure(y, oof, thresholds["flag"]),
        tests=measure_tests(pipeline, heads, tests, thresholds),
        seconds=round(time.perf_counter() - started),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(ATTRIBUTES))
    parser.add_argument("--out", type=Path, default=ARTIFACTS)
    parser.add_argument("--reject-precision", type=float, default=0.99,
                        help="out-of-fold precision the reject threshold must reach")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {train(args.task, args.out, args.reject_precision)}")


if __name__ == "__main__":
    main()
