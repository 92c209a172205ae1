"""How well ``moderation.languages.choose_language`` tells Indonesian from English, on the
held-out part of every public data set: ``python -m models.languages [--sample N] [--json PATH]``.

Each data set is written in one language (../shared/datasets/README.md): the ``id_*`` sets
in Indonesian, ``youtube_spam_collection`` and the ``en_*`` sets in English. That is the
truth each text is checked against; it belongs to the data set, not to the text, so a
tweet that switches to English half-way still counts as Indonesian, and a YouTube comment in
a third language counts as English. The texts are the test parts only (stored split A; OLID's
publisher test set), as ``models.datasets`` cleans them; the Jigsaw sample (101 rows, no
split) is left out, and so is a text empty after cleaning (the API refuses an empty one).
Every text is read twice: with the hint "en" (what Coral Talk sends for an Indonesian site)
and with no hint. A text on which the two readings differ had no deciding function word:
the hint alone chose. Nothing here is tuned: the word lists are not fitted to these parts.
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from moderation.languages import SUPPORTED, choose_language
from models.datasets import datasets_dir, split_dataset

LANGUAGES = {  # data set -> the language it is written in (the data sets' README)
    "id_hate_abusive_ibrohim2019": "id",
    "id_sms_spam": "id",
    "id_gambling_spam_ytcomments": "id",
    "id_gambling_spam_llmjudol": "id",
    "en_hate_offensive_davidson": "en",
    "en_olid": "en",
    "youtube_spam_collection": "en",
}
HINTS = {"en": "en", "none": None}  # how a reading is named -> the hint it passes
SEED = 0  # which rows --sample keeps


def held_out_texts(name: str, sample: int | None = None) -> tuple[list[str], int]:
    """The data set's test texts (at most `sample` of them, drawn with a fixed seed) and how
    many were left out for being empty."""
    test = split_dataset(name)[1]
    written = test["text"].str.strip() != ""
    kept = test[written]
    if sample is not None and len(kept) > sample:
        kept = kept.sample(n=sample, random_state=SEED)
    return kept["text"].tolist(), int((~written).sum())


def read_texts(texts: list[str], language: str) -> dict:
    """Each reading's accuracy and predicted languages, and how many texts the hint decided."""
    found = {}
    predictions = {}
    for reading, hint in HINTS.items():
        started = time.perf_counter()
        predictions[reading] = [choose_language(text, hint) for text in texts]
        seconds = time.perf_counter() - started
        predicted = Counter(predictions[reading])
        found[reading] = {"accuracy": predicted[language] / len(texts) if texts else None,
                          "predicted": {code: predicted[code] for code in SUPPORTED},
                          "us_per_text": seconds / len(texts) * 1e6 if texts else None}
    found["hint_decided"] = sum(a != b for a, b in zip(*predictions.values(), strict=True))
    return found


def evaluate(sample: int | None = None) -> dict:
    """Per data set and overall: texts, accuracy per reading, predicted languages, texts the
    hint decided. `overall` pools every text; `balanced` is the mean of the two languages'
    accuracies (the English test parts outnumber the Indonesian ones)."""
    per_dataset = {}
    for name, language in LANGUAGES.items():
        texts, empty = held_out_texts(name, sample)
        per_dataset[name] = {"language": language, "texts": len(texts), "left_out_empty": empty,
                             **read_texts(texts, language)}
    by_language = {}
    for language in SUPPORTED:
        rows = [row for row in per_dataset.values() if row["language"] == language]
        by_language[language] = {"texts": sum(row["texts"] for row in rows),
                                 "hint_decided": sum(row["hint_decided"] for row in rows)}
        for reading in HINTS:
            predicted = {code: sum(row[reading]["predicted"][code] for row in rows) for code in SUPPORTED}
            by_language[language][reading] = {"accuracy": predicted[language] / by_language[language]["texts"],
                                              "predicted": predicted}
    total = sum(row["texts"] for row in by_language.values())
    summary = {"texts": total}
    for reading in HINTS:
        correct = sum(row[reading]["predicted"][language] for language, row in by_language.items())
        summary[reading] = {
            "accuracy": correct / total,
            "balanced_accuracy": sum(row[reading]["accuracy"] for row in by_language.values()) / len(SUPPORTED),
        }
    return {"sample": sample, "datasets": per_dataset, "languages": by_language, "overall": summary}


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def report(result: dict) -> str:
    lines = ["| data set | language | texts | accuracy, hint en | accuracy, no hint | hint decided |",
             "|---|---|---:|---:|---:|---:|"]
    for name, row in result["datasets"].items():
        lines.append(f"| {name} | {row['language']} | {row['texts']:,} | {percent(row['en']['accuracy'])} | "
                     f"{percent(row['none']['accuracy'])} | {row['hint_decided']:,} |")
    for language, row in result["languages"].items():
        lines.append(f"| all {language} | {language} | {row['texts']:,} | {percent(row['en']['accuracy'])} | "
                     f"{percent(row['none']['accuracy'])} | {row['hint_decided']:,} |")
    overall = result["overall"]
    lines.append(f"| **overall** (pooled) | | {overall['texts']:,} | {percent(overall['en']['accuracy'])} | "
                 f"{percent(overall['none']['accuracy'])} | |")
    lines.append(f"| **balanced** (mean of id and en) | | | {percent(overall['en']['balanced_accuracy'])} | "
                 f"{percent(overall['none']['balanced_accuracy'])} | |")
    lines += ["", "Confusion (rows: the data set's language; columns: detected):", "",
              "| reading | true | detected id | detected en |", "|---|---|---:|---:|"]
    for reading in HINTS:
        for language, row in result["languages"].items():
            lines.append(f"| {'hint en' if reading == 'en' else 'no hint'} | {language} | "
                         f"{row[reading]['predicted']['id']:,} | {row[reading]['predicted']['en']:,} |")
    speed = max(row[reading]["us_per_text"] or 0 for row in result["datasets"].values() for reading in HINTS)
    sampled = f"at most {result['sample']} texts per data set" if result["sample"] else "every test text"
    lines += ["", f"{sampled}; *hint decided*: texts with no deciding function word, where the "
              f"hint alone chose (no hint: Indonesian). Slowest data set: {speed:.1f} µs per text."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, help="at most this many texts per data set (fixed seed)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if args.sample is not None and args.sample < 1:
        parser.error("--sample must be at least 1")
    if not datasets_dir().is_dir():
        parser.error(f"public datasets not found at {datasets_dir()} (set MODERATION_DATASETS_DIR)")
    result = evaluate(args.sample)
    print(report(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
