"""Train a check's model from the public data: ``python -m models.train spam|toxicity``.

Writes ``<name>.skops`` (a dict holding the scikit-learn pipeline and the attribute heads),
``<name>.json`` and ``<name>.md`` (the model card) into ``--out`` (default models/artifacts).
``--exclude-noncommercial`` leaves out the data sets whose licence forbids commercial use and
names the artifact ``<task>-commercial``. ``--with-labels`` adds the moderators' labels of a
Saring database to the training data (models/labels.py).
"""

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy.exc import SQLAlchemyError

from models import metrics
from models.cards import write_artifacts
from models.datasets import ATTRIBUTES, NONCOMMERCIAL, TASKS, load_task
from models.features import FEATURE_NAMES, comment_frame
from models.labels import (add_labels, database_url, describe_labels, describe_url, keep_labels,
                           load_labels)

SEED = 42
# C and the naive-Bayes weighting were chosen by 5-fold cross-validation on training data:
# toxicity's mean out-of-fold F1 (Ibrohim F1, Davidson F1, OLID macro-F1) was 0.8635 plain
# at C=8 and 0.8670 / 0.8664 / 0.8668 with NB weighting (beta 0.5) at C = 4 / 8 / 16.
# Per attribute head, at C=4, NB weighting raised abusive's out-of-fold F1 (Ibrohim 0.8875
# -> 0.8996, Davidson 0.9723 -> 0.9738) and lowered hate's (Ibrohim 0.8404 -> 0.8348) and
# identity_attack's; insult was mixed (Ibrohim up 0.002, OLID down 0.010).
# Spam's mean per-set out-of-fold F1 was 0.9685 plain and 0.9702 / 0.9694 with NB weighting
# of the text columns at C = 8 / 4.
C = {"spam": 8.0, "toxicity": 4.0}
NB_BETA = {"spam": 0.5, "toxicity": 0.5, "abusive": 0.5, "insult": 0.0, "hate": 0.0,
           "identity_attack": 0.0}
# The numeric signals of models.features raised spam's out-of-fold F1 on three of its four
# sets and lowered toxicity's on two of three, so only spam uses them.
SIGNALS = {"spam": True, "toxicity": False}
# How far each data set's total weight is pulled towards the mean data-set size (0: weight
# by rows, 1: every data set weighs the same). Spam's small YouTube and SMS sets gained
# out-of-fold F1 at 0.5 (mean per-set F1 0.9660 at 0, 0.9685 at 0.5, 0.9680 at 1);
# toxicity's figures moved by less than 0.002, so it stays at 0.
DATASET_POWER = {"spam": 0.5, "toxicity": 0.0}
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def build_features(signals: bool = True) -> ColumnTransformer:
    """Hashed word 1-2 grams and char_wb 2-5 grams of the folded text, each tf-idf weighted,
    and (with ``signals``) the standardised numeric signals of models.features."""
    words = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False,
                              norm=None, lowercase=False, dtype=np.float32)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), n_features=2**19,
                              alternate_sign=False, norm=None, lowercase=False,
                              dtype=np.float32)
    branches = [
        ("words", make_pipeline(words, TfidfTransformer(sublinear_tf=True)), "text"),
        ("chars", make_pipeline(chars, TfidfTransformer(sublinear_tf=True)), "text"),
    ]
    if signals:
        branches.append(("signals", StandardScaler(), list(FEATURE_NAMES)))
    return ColumnTransformer(branches)


def build_head(c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=3000, random_state=SEED)


def balance_weights(datasets: pd.Series, labels: pd.Series, power: float = 0.0) -> np.ndarray:
    """Weights giving each data set's two classes equal weight, so its prior is no cue, and
    each data set a total weight of size**(1 - power) (normalised to a mean of 1)."""
    datasets, labels = datasets.reset_index(drop=True), labels.reset_index(drop=True)
    counts = labels.groupby([datasets, labels]).transform("size")
    sizes = datasets.map(datasets.value_counts())
    weights = sizes / (2 * counts) * (sizes.mean() / sizes) ** power
    return (weights / weights.mean()).to_numpy()


def choose_thresholds(y_true, oof, reject_precision: float) -> dict[str, float]:
    """flag maximises out-of-fold F1; reject is the lowest ≥ flag reaching the precision."""
    flag = metrics.best_f1_threshold(y_true, oof)
    reject = metrics.precision_threshold(y_true, oof, reject_precision, floor=flag)
    return {"flag": round(flag, 4), "reject": round(reject if reject is not None else 1.0, 4)}


def nb_scale(x, y, beta: float, plain: int = 0) -> np.ndarray:
    """Each feature's |naive-Bayes log-count ratio| ** beta (Wang & Manning's NB weighting);
    1 for the last ``plain`` columns (the standardised signals, which are not counts)."""
    counts = x[:, :x.shape[1] - plain]
    p = 1 + np.asarray(counts[y == 1].sum(axis=0)).ravel()
    q = 1 + np.asarray(counts[y == 0].sum(axis=0)).ravel()
    ratio = np.abs(np.log(p / p.sum()) - np.log(q / q.sum())) ** beta
    return np.concatenate([ratio, np.ones(plain)])


def fit_head(head, x, y, datasets: pd.Series, power: float = 0.0, beta: float = 0.0,
             plain: int = 0):
    """Fit a clone of ``head`` with balance_weights. With ``beta``, fit it on the features
    scaled by nb_scale and fold the scale into ``coef_``: a stock LogisticRegression that
    reads the unscaled features."""
    y = np.asarray(y, dtype=int)
    weights = balance_weights(datasets, pd.Series(y), power)
    if not beta:
        return clone(head).fit(x, y, sample_weight=weights)
    scale = nb_scale(x, y, beta, plain)
    fitted = clone(head).fit(x.multiply(scale).tocsr(), y, sample_weight=weights)
    fitted.coef_ = (fitted.coef_ * scale).astype(x.dtype)
    return fitted


def task_settings(task: str, attribute: str | None = None) -> dict:
    """fit_head's and out_of_fold's keyword arguments for a task's main or attribute head."""
    return {"power": DATASET_POWER[task], "beta": NB_BETA[attribute or task],
            "plain": len(FEATURE_NAMES) if SIGNALS[task] else 0}


def out_of_fold(head, x, y, datasets: pd.Series, power: float = 0.0,
                beta: float = 0.0, plain: int = 0) -> np.ndarray:
    """5-fold out-of-fold probabilities, folds stratified on data set and label, fitted as
    fit_head fits. The tf-idf and scaler statistics (unsupervised) are fitted once on all
    training rows; the naive-Bayes ratios (supervised) on each fold's training part."""
    y = np.asarray(y, dtype=int)
    datasets = datasets.reset_index(drop=True)
    strata = datasets.to_numpy() + y.astype(str)
    folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED).split(x, strata))
    fitted = Parallel(n_jobs=2)(
        delayed(fit_head)(head, x[fit], y[fit], datasets[fit], power, beta, plain)
        for fit, _ in folds)
    oof = np.empty(len(y))
    for model, (_, held) in zip(fitted, folds):
        oof[held] = model.predict_proba(x[held])[:, 1]
    return oof


def per_dataset(y, oof, datasets: pd.Series, threshold: float) -> dict:
    return {name: metrics.measure(y[mask], oof[mask], threshold)
            for name in datasets.unique() for mask in [(datasets == name).to_numpy()]}


def leave_one_video_out(head, x, train_frame: pd.DataFrame, threshold: float,
                        settings: dict) -> dict:
    """YouTube spam F1 per held-out video: fit on all training rows but that video's."""
    youtube = (train_frame["dataset"] == "youtube_spam_collection").to_numpy()
    videos = train_frame["strata"].astype(str).str.rsplit("_", n=1).str[0].where(youtube)
    y, proba = train_frame["label"].to_numpy(), np.zeros(len(train_frame))
    for video in videos[youtube].unique():
        held = (videos == video).to_numpy()
        fitted = fit_head(head, x[~held], y[~held], train_frame["dataset"][~held], **settings)
        proba[held] = fitted.predict_proba(x[held])[:, 1]
    result = {video: round(float(f1_score(y[held], proba[held] >= threshold)), 4)
              for video in videos[youtube].unique() for held in [(videos == video).to_numpy()]}
    result["all videos"] = metrics.measure(y[youtube], proba[youtube], threshold)
    return result


def measure_tests(pipeline, heads, tests, thresholds, attribute_thresholds) -> dict:
    """Held-out figures per test set; attribute heads where the test set defines them."""
    results = {}
    for name, test in tests.items():
        x = pipeline[:-1].transform(comment_frame(test["text"]))
        result = metrics.measure(test["label"], pipeline[-1].predict_proba(x)[:, 1],
                         thresholds["flag"])
        for attribute, head in heads.items():
            known = test[attribute].notna().to_numpy()
            if known.any():
                result[attribute] = metrics.measure(
                    test.loc[known, attribute], head.predict_proba(x[known])[:, 1],
                    attribute_thresholds[attribute]["flag"])
        results[name] = result
    return results


def train(task: str, out: Path, reject_precision: float = 0.99,
          exclude_noncommercial: bool = False, labels: pd.DataFrame | None = None,
          site: str | None = None, frames: tuple[pd.DataFrame, dict] | None = None) -> Path:
    """Fit, choose thresholds out of fold, measure on the held-out sets, write the artifacts.

    ``labels`` (models.labels.load_labels, read for ``site`` or every site) join the
    training data as the data set ``site_labels``; ``frames`` replaces load_task's
    (training frame, test frames), for tests."""
    started = time.perf_counter()
    exclude = NONCOMMERCIAL if exclude_noncommercial else frozenset()
    train_frame, tests = frames or load_task(task, exclude=exclude)
    notes = []
    if labels is not None:
        kept = keep_labels(labels, tests)
        train_frame = add_labels(train_frame, kept)
        notes.append(describe_labels(labels, kept, task))
    features = build_features(SIGNALS[task])
    x = features.fit_transform(comment_frame(train_frame["text"])).tocsr()
    y, datasets = train_frame["label"].to_numpy(), train_frame["dataset"]
    head = build_head(C[task])
    settings = task_settings(task)
    oof = out_of_fold(head, x, y, datasets, **settings)
    thresholds = choose_thresholds(y, oof, reject_precision)
    pipeline = Pipeline([("features", features),
                         ("classifier", fit_head(head, x, y, datasets, **settings))])
    if exclude:
        notes.append("Licence-clean variant: trained without " + ", ".join(sorted(exclude))
                     + ". No Indonesian toxicity data is left, so Indonesian abuse is "
                     "detected only through words shared with English; its figures on "
                     "the excluded sets' test parts are shown for comparison.")
    if task == "spam":
        lovo = leave_one_video_out(head, x, train_frame, thresholds["flag"], settings)
        notes.append("YouTube leave-one-video-out on the training part (fit on every other "
                     "training row, flag threshold): F1 per video "
                     + ", ".join(f"{v} {f}" for v, f in lovo.items() if v != "all videos")
                     + f"; all videos pooled F1 {lovo['all videos']['f1']}.")
    heads, attribute_thresholds, attribute_oof = {}, {}, {}
    for attribute in ATTRIBUTES[task]:
        known = train_frame[attribute].notna().to_numpy()
        y_a, datasets_a = train_frame.loc[known, attribute].astype(int).to_numpy(), datasets[known]
        settings_a = task_settings(task, attribute)
        oof_a = out_of_fold(head, x[known], y_a, datasets_a, **settings_a)
        attribute_thresholds[attribute] = choose_thresholds(y_a, oof_a, reject_precision)
        attribute_oof[attribute] = per_dataset(y_a, oof_a, datasets_a,
                                               attribute_thresholds[attribute]["flag"])
        heads[attribute] = fit_head(head, x[known], y_a, datasets_a, **settings_a)
    name = f"{task}-commercial" if exclude_noncommercial else task
    return write_artifacts(
        name, {"pipeline": pipeline, "attributes": heads}, out,
        train=train_frame, thresholds=thresholds, reject_precision=reject_precision,
        attribute_thresholds=attribute_thresholds,
        oof={"pooled": metrics.measure(y, oof, thresholds["flag"]),
             **per_dataset(y, oof, datasets, thresholds["flag"])},
        attribute_oof=attribute_oof,
        tests=measure_tests(pipeline, heads, tests, thresholds, attribute_thresholds),
        seconds=round(time.perf_counter() - started), notes=notes,
        command=f"python -m models.train {task}"
                + (" --exclude-noncommercial" if exclude_noncommercial else "")
                + (" --with-labels" if labels is not None else "")
                + (f" --site {site}" if site else ""),
    )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Retraining on a site's labels: write the artifacts to the site's own --out "
               "directory (not the committed models/artifacts) and compare its card with the "
               "committed one, then point the workers at it with MODERATION_MODELS_DIR "
               "(they load <task>.skops and <task>.json from there). One model checks the "
               "comments of every site its workers serve.")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", type=Path, default=ARTIFACTS,
                        help=f"directory for <task>.skops/.json/.md (default {ARTIFACTS})")
    parser.add_argument("--reject-precision", type=float, default=0.99,
                        help="out-of-fold precision the reject threshold must reach")
    parser.add_argument("--exclude-noncommercial", action="store_true",
                        help="leave out data sets licensed for non-commercial use only")
    parser.add_argument("--with-labels", action="store_true",
                        help="add the moderators' labels of a Saring database to the training "
                             "data as the data set site_labels (training rows only; the "
                             "held-out figures stay on the public test sets). With no labels "
                             "to add, nothing is trained and the command exits with status 1")
    parser.add_argument("--database-url",
                        help="the database holding the labels (default $MODERATION_DATABASE_URL, "
                             "else sqlite:///instance/saring.db); no secrets are needed")
    parser.add_argument("--site", metavar="SLUG", help="only this site's labels")
    args = parser.parse_args(argv)
    if not args.with_labels and (args.database_url or args.site):
        parser.error("--database-url and --site choose the labels of --with-labels")
    args.database_url = database_url(args.database_url) if args.with_labels else None
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    labels = None
    if args.with_labels:
        try:
            labels = load_labels(args.database_url, args.task, args.site)
        except (FileNotFoundError, SQLAlchemyError) as error:
            raise SystemExit(f"cannot read labels from {describe_url(args.database_url)}: "
                             f"{type(error).__name__}: {str(error).splitlines()[0]}") from None
        if labels.empty:
            where = f" of site {args.site}" if args.site else ""
            raise SystemExit(f"no {args.task} labels{where} in {describe_url(args.database_url)}: "
                             f"nothing to add, so nothing was trained (run without --with-labels "
                             f"to train on the public data only)")
        print(f"adding {len(labels)} {args.task} labels from {describe_url(args.database_url)}")
    args.out.mkdir(parents=True, exist_ok=True)
    artifact = train(args.task, args.out, args.reject_precision, args.exclude_noncommercial,
                     labels=labels, site=args.site)
    print(f"wrote {artifact}")


if __name__ == "__main__":
    main()
