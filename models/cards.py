"""Write a trained model's artifact and its model card (JSON data + Markdown)."""

import datetime
import hashlib
import json
import zipfile
from pathlib import Path

import pandas as pd
import sklearn
import skops
import skops.io

from models.datasets import ATTRIBUTE_SOURCES, LABELS, LICENCES

NOTES = {
    "spam": [
        "Training texts are YouTube comments and SMS, not news comments: Indonesian SMS "
        "promotions make polite thank-you remarks ('terima kasih', 'informatif') lean spam.",
        "Judi-online sets: every text whose key (split-A key, raw or folded) is in the other "
        "set's test part was dropped from this set's training part.",
    ],
    "toxicity": [
        "Training texts are tweets, not news comments: topical words of political hate "
        "tweets (e.g. 'banjir', 'minister') push benign remarks towards toxic.",
        "Tweets had RT markers, @handles/USER, URL placeholders, links, HTML entities and "
        "Ibrohim's literal \\n / \\xNN escapes removed before folding.",
        "Attribute heads are trained without sample weights on the rows whose data set "
        "defines the attribute; their probabilities are not calibrated to comments.",
    ],
}
COMMON_NOTES = [
    "Class balance of the training sets is far above a real comment stream: "
    "tune per-site thresholds on live data.",
    "The main head weights each data set's two classes equally, so a data set's "
    "prevalence is not a cue. C=8 was chosen by 5-fold cross-validation on the training "
    "data (C in 1, 4, 16, 64 gave out-of-fold ROC-AUC within 0.003).",
]


def describe_features(pipeline) -> str:
    hashed = [f"{name} {v.analyzer} {v.ngram_range[0]}-{v.ngram_range[1]} grams in "
              f"2^{v.n_features.bit_length() - 1} buckets"
              for name, (v, _) in pipeline.named_steps["features"].transformer_list]
    return ("moderation.text.fold(text), then HashingVectorizer(alternate_sign=False) + "
            "TfidfTransformer(sublinear_tf=True) for each of: " + "; ".join(hashed))


def write_artifacts(name: str, model: dict, out: Path, *, train: pd.DataFrame,
                    thresholds: dict, reject_precision: float, oof: dict, tests: dict,
                    seconds: int) -> Path:
    """Dump ``model`` to ``<name>.skops`` and write ``<name>.json`` and ``<name>.md``."""
    artifact = out / f"{name}.skops"
    skops.io.dump(model, artifact, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    sha256 = hashlib.sha256(artifact.read_bytes()).hexdigest()
    now = datetime.datetime.now(datetime.timezone.utc)
    card = {
        "name": name,
        "version": f"{name}-{now:%Y.%m.%d}-{sha256[:8]}",
        "created": now.isoformat(timespec="seconds"),
        "artifact": {"file": artifact.name, "bytes": artifact.stat().st_size, "sha256": sha256},
        "sklearn_version": sklearn.__version__,
        "skops_version": skops.__version__,
        "training_seconds": seconds,
        "training_data": [
            {"dataset": dataset, "rows": len(rows), "positives": int(rows["label"].sum()),
             "label": LABELS[dataset], "licence": LICENCES[dataset]}
            for dataset, rows in train.groupby("dataset", sort=False)
        ],
        "features": describe_features(model["pipeline"]),
        "classifier": repr(model["pipeline"][-1]),
        "thresholds": thresholds,
        "threshold_method": {
            "flag": "maximises F1 on 5-fold out-of-fold predictions over the pooled "
                    "training data",
            "reject": f"lowest threshold >= flag whose out-of-fold precision is >= "
                      f"{reject_precision} (1.0 when none reaches it)",
        },
        "out_of_fold": oof,
        "test_metrics": tests,
        "attributes": {attribute: {"sources": ATTRIBUTE_SOURCES[attribute],
                                   "training_rows": int(train[attribute].notna().sum()),
                                   "training_positives": int(train[attribute].sum())}
                       for attribute in model["attributes"]},
        "notes": COMMON_NOTES + NOTES.get(name, []),
    }
    (out / f"{name}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / f"{name}.md").write_text(render_card(card))
    return artifact


def _row(cells) -> str:
    return "| " + " | ".join("" if cell is None else str(cell) for cell in cells) + " |"


def render_card(card: dict) -> str:
    """The model card as Markdown."""
    metric_names = ("rows", "positives", "roc_auc", "average_precision", "f1", "precision",
                    "recall")
    lines = [
        f"# Model card: {card['name']}", "",
        f"- **Version:** `{card['version']}` (created {card['created']})",
        f"- **Artifact:** `{card['artifact']['file']}`, {card['artifact']['bytes']:,} bytes, "
        f"sha256 `{card['artifact']['sha256']}`",
        f"- **Library:** scikit-learn {card['sklearn_version']}, skops {card['skops_version']}",
        f"- **Features:** {card['features']}",
        f"- **Classifier:** `{card['classifier']}`",
        f"- **Thresholds:** flag {card['thresholds']['flag']} "
        f"({card['threshold_method']['flag']}); reject {card['thresholds']['reject']} "
        f"({card['threshold_method']['reject']})",
        "", "## Training data (training parts only)", "",
        _row(("dataset", "rows", "positives", "label", "licence")), _row(["---"] * 5),
        *(_row(d.values()) for d in card["training_data"]),
        "", "## Held-out metrics (at the flag threshold)", "",
        _row(("test set", *metric_names)), _row(["---"] * 8),
        _row(("out-of-fold (training)", *(card["out_of_fold"].get(m) for m in metric_names))),
        *(_row((name, *(result.get(m) for m in metric_names)))
          for name, result in card["test_metrics"].items()),
    ]
    if card["attributes"]:
        lines += ["", "## Attribute heads (same features, one logistic head each)", "",
                  _row(("attribute", "training rows", "positives", "sources")), _row(["---"] * 4),
                  *(_row((a, i["training_rows"], i["training_positives"], i["sources"]))
                    for a, i in card["attributes"].items()),
                  "", "Held-out ROC-AUC / average precision where the test set defines them:", "",
                  _row(("test set", "attribute", "rows", "positives", "roc_auc",
                        "average_precision")), _row(["---"] * 6)]
        lines += [_row((name, a, *(result[a].get(m) for m in metric_names[:4])))
                  for name, result in card["test_metrics"].items()
                  for a in card["attributes"] if a in result]
    lines += ["", "## Notes", "", *(f"- {note}" for note in card["notes"]), ""]
    return "\n".join(lines)
