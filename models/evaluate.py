"""Score a labelled CSV, TSV or XLSX with a deployed model: ``python -m models.evaluate``.

    python -m models.evaluate --model spam|toxicity[:ATTRIBUTE] --data FILE.csv
        --text-column C --label-column L --positive V [--positive V2] [--sep ';']
        [--encoding E] [--json OUT] [--plots DIR]

The committed artifact scores every row; the deployed threshold (the ``flag`` threshold of
the main score, or of the attribute) turns scores into decisions. Nothing is trained or
tuned. A row is positive when its label, stripped, equals one of the ``--positive`` values;
rows with an empty label are left out and counted.
"""

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from models import metrics
from models.scoring import ARTIFACTS, load_model

SHOWN = (("roc_auc", "ROC-AUC"), ("average_precision", "average precision"), ("f1", "F1"),
         ("precision", "precision"), ("recall", "recall"), ("macro_f1", "macro-F1"),
         ("brier", "Brier score"))


class BadInput(ValueError):
    """The data or the model named on the command line cannot be evaluated."""


def open_model(spec: str):
    """``name`` or ``name:attribute`` -> (the loaded model, the attribute or None)."""
    name, _, attribute = spec.partition(":")
    known = sorted(path.stem for path in ARTIFACTS.glob("*.skops"))
    if name not in known:
        raise BadInput(f"unknown model {name!r} (known: {', '.join(known)})")
    model = load_model(name)
    if attribute and attribute not in model.attributes:
        raise BadInput(f"model {name!r} has no attribute {attribute!r} "
                       f"(attributes: {', '.join(model.attributes) or 'none'})")
    return model, attribute or None


def read_table(path: Path, sep: str | None = None, encoding: str | None = None) -> pd.DataFrame:
    """Every cell as a string: XLSX by extension, else CSV (TSV for ``.tsv``) unless ``sep``."""
    if not path.is_file():
        raise BadInput(f"no such file: {path}")
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        sep = sep or ("\t" if path.suffix.lower() == ".tsv" else ",")
        return pd.read_csv(path, sep=sep, encoding=encoding, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, LookupError, ValueError, zipfile.BadZipFile) as error:
        raise BadInput(f"cannot read {path}: {error}") from error


def labelled(frame: pd.DataFrame, text_column: str, label_column: str,
             positives: list[str]) -> tuple[list[str], np.ndarray, int]:
    """(texts, 0/1 labels, rows left out for an empty label); both classes must be present."""
    missing = [column for column in (text_column, label_column) if column not in frame.columns]
    if missing:
        raise BadInput(f"no column {' or '.join(map(repr, missing))} in the data "
                       f"(columns: {', '.join(map(str, frame.columns))})")
    labels = frame[label_column].astype(str).str.strip()
    known = labels != ""
    y = labels[known].isin({value.strip() for value in positives}).astype(int).to_numpy()
    if not 0 < y.sum() < len(y):
        seen = ", ".join(repr(value) for value in labels[known].unique()[:10])
        which = "positive" if y.sum() == 0 else "negative"
        raise BadInput(f"column {label_column!r} has no {which} rows (positive = "
                       f"{' or '.join(map(repr, positives))}; values seen: {seen or 'none'})")
    return frame.loc[known, text_column].astype(str).tolist(), y, int((~known).sum())


def deployed_threshold(model, attribute: str | None = None) -> float:
    if attribute is None:
        return model.thresholds["flag"]
    return model.attribute_thresholds[attribute]["flag"]


def summarise(model, labels, proba, attribute: str | None = None) -> dict:
    """The figures of ``proba`` against ``labels`` at the deployed threshold."""
    threshold = deployed_threshold(model, attribute)
    return {"model": model.name + (f":{attribute}" if attribute else ""),
            "version": model.version, "threshold": threshold,
            **metrics.describe(labels, proba, threshold)}


def evaluate(model, texts, labels, attribute: str | None = None) -> dict:
    """Score ``texts`` with the deployed model and measure them against 0/1 ``labels``."""
    return summarise(model, labels, model.predict_proba(list(texts), attribute=attribute),
                     attribute)


def write_plots(labels, proba, threshold: float, directory: Path, name: str,
                title: str) -> list[Path]:
    """roc.png, pr.png and reliability.png (10 equal-count bins), the threshold marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay

    result = metrics.describe(labels, proba, threshold)
    cm = result["confusion"]
    fpr = cm["fp"] / max(cm["fp"] + cm["tn"], 1)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for file, display, point in (
        ("roc.png", RocCurveDisplay, (fpr, result["recall"])),
        ("pr.png", PrecisionRecallDisplay, (result["recall"], result["precision"])),
        ("reliability.png", CalibrationDisplay, None),
    ):
        figure, ax = plt.subplots(figsize=(5, 5))
        options = {"n_bins": 10, "strategy": "quantile"} if point is None else {}
        display.from_predictions(labels, proba, name=name, ax=ax, **options)
        if point:
            ax.plot(*point, "o", color="crimson", label=f"deployed threshold {threshold:g}")
            ax.legend(loc="lower right" if file == "roc.png" else "lower left")
        ax.set_title(title, fontsize=9)
        figure.tight_layout()
        figure.savefig(directory / file, dpi=100)
        plt.close(figure)
        paths.append(directory / file)
    return paths


def render(result: dict) -> str:
    """The figures as an aligned (metric, value) table, then the confusion matrix."""
    cm = result["confusion"]
    positive = ", ".join(result["positive_values"])
    lines = [f"model      {result['model']} ({result['version']})",
             f"threshold  {result['threshold']:g} (deployed flag threshold)",
             f"data       {result['data']}: {result['rows']} rows, {result['positives']} positive"
             f" (label in {{{positive}}}), {result['rows_without_label']} rows without a label "
             "left out", "",
             f"{'metric':<20}{'value':>8}"]
    lines += [f"{label:<20}{'n/a' if result[key] is None else f'{result[key]:.4f}':>8}"
              for key, label in SHOWN]
    lines += ["", f"{'':<20}{'predicted +':>12}{'predicted -':>12}",
              f"{'actual +':<20}{cm['tp']:>12}{cm['fn']:>12}",
              f"{'actual -':<20}{cm['fp']:>12}{cm['tn']:>12}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m models.evaluate", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status 2: bad input (file, column, model, attribute, one class only).")
    parser.add_argument("--model", required=True, metavar="spam|toxicity[:ATTRIBUTE]",
                        help="a model of models/artifacts, or one of its attribute heads")
    parser.add_argument("--data", required=True, type=Path, help="CSV, TSV or XLSX file")
    parser.add_argument("--text-column", required=True)
    parser.add_argument("--label-column", required=True)
    parser.add_argument("--positive", required=True, action="append",
                        help="a label value meaning positive (repeat for several)")
    parser.add_argument("--sep", help="CSV separator (default ',', or tab for .tsv); '\\t' = tab")
    parser.add_argument("--encoding", help="text encoding of a CSV/TSV (default utf-8)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures as JSON")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write roc.png, pr.png and reliability.png into DIR")
    args = parser.parse_args(argv)
    try:
        model, attribute = open_model(args.model)
        sep = "\t" if args.sep == "\\t" else args.sep
        frame = read_table(args.data, sep, args.encoding)
        texts, y, unlabelled = labelled(frame, args.text_column, args.label_column,
                                        args.positive)
    except BadInput as error:
        parser.error(str(error))
    proba = model.predict_proba(texts, attribute=attribute)
    result = {**summarise(model, y, proba, attribute), "data": str(args.data),
              "positive_values": args.positive, "rows_without_label": unlabelled}
    print(render(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if args.plots:
        title = f"{result['model']} on {args.data.name} ({len(y)} rows)"
        for path in write_plots(y, proba, result["threshold"], args.plots, result["model"],
                                title):
            print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
