"""Evaluate every deployed model on the standard test sets: ``python -m models.report``.

Scores each held-out test set (split A of ../shared/datasets, OLID's publisher test set)
with ``models.evaluate`` at the deployed flag thresholds, measures the peer
(alt-profanity-check, ``pip install -r bench/requirements.txt``) on the English test sets in
the same run, computes YouTube's leave-one-video-out F1 (``--skip-lovo`` to skip), prints the
issue's target table, writes ``models/artifacts/report.json`` and rewrites the evaluation
block of each model card (``<name>.md`` between the report markers, ``"report"`` in
``<name>.json``). Nothing here chooses a threshold or trains a deployed model.
"""

import argparse
import datetime
import importlib.metadata
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models import metrics
from models.datasets import TASKS, load_task, read_dataset, split_dataset
from models.evaluate import evaluate
from models.scoring import ARTIFACTS, load_model

BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"
HEADING = "## Evaluation report"  # above the markers when they have to be appended
PEER = "alt-profanity-check"
PEER_THRESHOLD = 0.5
ENGLISH = ("en_olid", "en_hate_offensive_davidson")
YOUTUBE = "youtube_spam_collection"
LOVO_METHOD = ("models/train.py's spam features and head, refitted five times: each time on four "
               "YouTube videos (all their rows, split-A training and test parts alike) plus "
               "the other spam sets' training parts, scoring the fifth video at the deployed "
               "spam flag threshold; the deployed artifact is not touched")
COLUMNS = ("rows", "positives", "threshold", "roc_auc", "average_precision", "f1",
           "precision", "recall", "macro_f1", "brier")


@dataclass(frozen=True)
class Target:
    title: str
    task: str
    dataset: str
    metric: str
    target: float
    attribute: str | None = None  # the attribute head scored against that column's labels
    peer: str | None = None  # the peer's figure shown next to ours


TARGETS = (
    Target("OLID official test (English offensive)", "toxicity", "en_olid", "macro_f1", 0.79,
           peer="macro_f1"),
    Target("YouTube spam, split A", "spam", YOUTUBE, "f1", 0.96),
    Target("YouTube spam, leave-one-video-out", "spam", YOUTUBE, "lovo_f1", 0.93),
    Target("Indonesian SMS spam (promo or fraud), split A", "spam", "id_sms_spam", "f1", 0.98),
    Target("id_gambling_spam_ytcomments, split A", "spam", "id_gambling_spam_ytcomments",
           "f1", 0.98),
    Target("id_gambling_spam_llmjudol, split A", "spam", "id_gambling_spam_llmjudol",
           "f1", 0.95),
    Target("Ibrohim 2019 abusive, split A", "toxicity", "id_hate_abusive_ibrohim2019", "f1",
           0.90, attribute="abusive"),
    Target("Ibrohim 2019 hate speech, split A", "toxicity", "id_hate_abusive_ibrohim2019",
           "f1", 0.86, attribute="hate"),
    Target("Ibrohim 2019 abusive or hate speech, split A", "toxicity",
           "id_hate_abusive_ibrohim2019", "f1", 0.92),
    Target("Davidson, split A (peer trained on it: not a fair comparison)", "toxicity",
           "en_hate_offensive_davidson", "roc_auc", 0.985, peer="roc_auc"),
)


def measure_model(model, tests: dict[str, pd.DataFrame]) -> dict:
    """Per test set: the main score against ``label`` and each attribute head against its
    column, on the rows where the test set defines it."""
    results = {}
    for name, test in tests.items():
        results[name] = {"main": evaluate(model, test["text"], test["label"])}
        for attribute in model.attributes:
            if attribute in test and test[attribute].notna().any():
                known = test[test[attribute].notna()]
                results[name][attribute] = evaluate(model, known["text"],
                                                    known[attribute].astype(int), attribute)
    return results


def measure_peer(tests: dict[str, pd.DataFrame]) -> dict:
    """alt-profanity-check at 0.5 on the English test sets, or why it was not measured."""
    try:
        from profanity_check import predict_prob
    except ImportError:
        return {"installed": False, "note": "not installed: pip install -r bench/requirements.txt"}
    return {"installed": True, "package": f"{PEER} {importlib.metadata.version(PEER)}",
            "threshold": PEER_THRESHOLD,
            "tests": {name: {"threshold": PEER_THRESHOLD, **metrics.describe(
                tests[name]["label"], predict_prob(tests[name]["text"].tolist()),
                PEER_THRESHOLD)} for name in ENGLISH if name in tests}}


def leave_one_video_out(threshold: float) -> dict:
    """YouTube's leave-one-video-out figures, as LOVO_METHOD says."""
    from models.features import comment_frame
    from models.train import C, SIGNALS, build_features, build_head, fit_head, task_settings

    pooled, _ = load_task("spam")
    others = pooled[pooled["dataset"] != YOUTUBE]
    youtube = read_dataset(YOUTUBE).assign(dataset=YOUTUBE)
    video = youtube["strata"].str.rsplit("_", n=1).str[0].to_numpy()
    rows = pd.concat([others, youtube], ignore_index=True)
    frame, held = comment_frame(rows["text"]), np.r_[np.full(len(others), ""), video]
    proba = np.empty(len(youtube))
    per_video = {}
    for name in sorted(set(video)):
        train = held != name
        features = build_features(SIGNALS["spam"])
        x = features.fit_transform(frame[train]).tocsr()
        head = fit_head(build_head(C["spam"]), x, rows["label"][train], rows["dataset"][train],
                        **task_settings("spam"))
        proba[video == name] = head.predict_proba(features.transform(frame[~train]))[:, 1]
        per_video[name] = metrics.measure(youtube["label"][video == name],
                                          proba[video == name], threshold)
    return {"threshold": threshold, "method": LOVO_METHOD,
            "pooled": metrics.measure(youtube["label"], proba, threshold),
            "mean_f1": round(float(np.mean([v["f1"] for v in per_video.values()])), 4),
            "videos": per_video}


def task_of(name: str) -> str:
    """The check a model serves: ``toxicity-commercial`` -> ``toxicity``."""
    return name.split("-")[0]


def target_rows(name: str, tests: dict, peer: dict, lovo: dict | None) -> list[dict]:
    """The issue's targets for model ``name``: our figure, the peer's, met or not."""
    rows = []
    for t in TARGETS:
        if t.task != task_of(name):
            continue
        if t.metric == "lovo_f1":
            ours = lovo["pooled"]["f1"] if lovo and name == t.task else None
        else:
            ours = tests.get(t.dataset, {}).get(t.attribute or "main", {}).get(t.metric)
        theirs = (peer["tests"][t.dataset][t.peer] if t.peer and peer["installed"]
                  and t.dataset in peer["tests"] else None)
        rows.append({"test_set": t.title, "dataset": t.dataset, "score": t.attribute or "main",
                     "metric": t.metric, "ours": ours, "peer": theirs, "target": t.target,
                     "met": None if ours is None else ours >= t.target})
    return rows


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown(header, rows) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(_cell(cell) for cell in line) + " |" for line in lines)


def targets_table(rows: list[dict], peer: dict | None, with_model: bool = False) -> str:
    """The issue's table; the peer's column only where a peer applies (``peer`` not None)."""
    header = ["model"] * with_model + ["test set", "score", "metric", "ours"]
    if peer is not None:
        header.append(f"{PEER} (at 0.5)" if peer["installed"] else f"{PEER}: {peer['note']}")
    return markdown(header + ["target", "met"], [
        ([row["model"]] if with_model else [])
        + [row["test_set"], row["score"], row["metric"], row["ours"]]
        + [row["peer"]] * (peer is not None) + [f"≥ {row['target']:.3f}".removesuffix("0"),
                                                row["met"]]
        for row in rows])


def tests_table(tests: dict, peer: dict | None) -> str:
    rows = []
    for dataset, scores in tests.items():
        for score, result in scores.items():
            rows.append([dataset, score, *(result.get(c) for c in COLUMNS),
                         "{tp}/{fp}/{fn}/{tn}".format(**result["confusion"])])
        if peer is not None and peer["installed"] and dataset in peer["tests"]:
            result = peer["tests"][dataset]
            rows.append([dataset, f"peer: {peer['package']}", *(result.get(c) for c in COLUMNS),
                         "{tp}/{fp}/{fn}/{tn}".format(**result["confusion"])])
    return markdown(["test set", "score", *COLUMNS, "tp/fp/fn/tn"], rows)


def card_block(figures: dict) -> str:
    """The model card's evaluation section, from the figures stored under ``"report"``."""
    peer = figures["peer"]
    lines = [f"Written by `{figures['command']}` at {figures['created']} for version "
             f"`{figures['version']}`. Every figure comes from `models.evaluate` on a held-out "
             "test set at the deployed flag threshold of the score (the main head or an "
             "attribute head); no test set was used to train or to choose anything."
             + ("" if peer is None else f" Peer: {peer['package']}, measured in the same run "
                "at 0.5." if peer["installed"] else f" Peer {PEER}: {peer['note']}.")]
    if figures["targets"]:
        lines += ["", "### Targets", "", targets_table(figures["targets"], peer)]
    lines += ["", "### Every test set", "", tests_table(figures["tests"], peer)]
    if figures.get("lovo"):
        lovo = figures["lovo"]
        lines += ["", "### YouTube leave-one-video-out", "",
                  f"Method: {lovo['method']}. Flag threshold: {lovo['threshold']}.", "",
                  markdown(["held-out video", "rows", "positives", "f1", "precision", "recall",
                            "roc_auc"],
                           [[video, *(r[c] for c in ("rows", "positives", "f1", "precision",
                                                     "recall", "roc_auc"))]
                            for video, r in {**lovo["videos"], "all five (pooled)":
                                             lovo["pooled"]}.items()]),
                  "", f"Mean of the five videos' F1: {lovo['mean_f1']}."]
    return "\n".join(lines)


def rewrite_card(markdown_path: Path, json_path: Path, block: str, figures: dict) -> None:
    """Put ``block`` between the report markers of the card (appending the markers when
    absent) and ``figures`` under ``"report"`` in its JSON, leaving every other key as is."""
    lines = markdown_path.read_text().splitlines()
    stripped = [line.strip() for line in lines]
    if BEGIN in stripped and END in stripped[stripped.index(BEGIN):]:
        start = stripped.index(BEGIN)
        end = stripped.index(END, start)
        lines = lines[:start + 1] + block.splitlines() + lines[end:]
    else:
        lines += ["", HEADING, "", BEGIN, *block.splitlines(), END]
    markdown_path.write_text("\n".join(lines) + "\n")
    card = json.loads(json_path.read_text())
    card["report"] = figures
    json_path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-lovo", action="store_true",
                        help="skip YouTube leave-one-video-out (five refits of the spam "
                             "model: a few minutes)")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS,
                        help="the models to evaluate, whose cards are rewritten and where "
                             "report.json goes (default models/artifacts)")
    args = parser.parse_args(argv)
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    folder = args.artifacts
    tests = {task: {name: split_dataset(name)[1] for name in names}
             for task, names in TASKS.items()}
    peer = measure_peer(tests["toxicity"])
    names = sorted(path.stem for path in folder.glob("*.skops")
                   if task_of(path.stem) in TASKS)
    report = {"created": created, "command": "python -m models.report", "peer": peer,
              "models": {}}
    for name in names:
        model = load_model(name, folder)
        lovo = None
        if name == "spam" and not args.skip_lovo:
            lovo = leave_one_video_out(model.thresholds["flag"])
        results = measure_model(model, tests[task_of(name)])
        figures = {"created": created, "command": report["command"], "version": model.version,
                   "thresholds": model.thresholds,
                   "attribute_thresholds": model.attribute_thresholds,
                   "targets": target_rows(name, results, peer, lovo), "tests": results,
                   "peer": peer if task_of(name) == "toxicity" else None,
                   "lovo": lovo}
        rewrite_card(folder / f"{name}.md", folder / f"{name}.json", card_block(figures),
                     figures)
        report["models"][name] = figures
    rows = [{"model": name, **row} for name in names if name in TASKS
            for row in report["models"][name]["targets"]]
    report["targets"] = rows
    (folder / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"# {report['command']} · {created}\n")
    print(targets_table(rows, peer, with_model=True))
    if report["models"].get("spam", {}).get("lovo"):
        print(f"\nleave-one-video-out: {report['models']['spam']['lovo']['method']}.")
    for name in names:
        if name not in TASKS:
            met = [row["met"] for row in report["models"][name]["targets"]]
            print(f"{name}: {sum(m is True for m in met)} of {len(met)} targets met (its card "
                  "has the figures)")
    print(f"\nwrote {folder / 'report.json'} and the cards of {', '.join(names)}")


if __name__ == "__main__":
    main()
