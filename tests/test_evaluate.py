"""`python -m models.evaluate` on small files, its errors, and the report's card rewrite."""

import json

import pandas as pd
import pytest

from conftest import require_datasets
from models import evaluate as ev
from models import metrics, report
from models.datasets import split_dataset
from models.scoring import load_model

PNG = b"\x89PNG\r\n\x1a\n"
COMMENTS = [  # (text, label): obvious spam and ordinary comments
    ("𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 m4xw1n daftar sekarang", "1"),
    ("yuk gabung situs slot gacor hari ini, deposit 10rb langsung maxwin", "1"),
    ("Buruan daftar di ⓜⓔⓖⓐⓑⓔⓣ⑨⑨ bonus new member 100%", "1"),
    ("Main di P U L A U W I N auto jackpot, wd lancar terus bosku!", "1"),
    ("Hey guys check out my new video and please subscribe to my channel!", "1"),
    ("check out my channel subscribe", "1"),
    ("Semoga pemerintah cepat tanggap menangani banjir di Jakarta", "0"),
    ("Harga beras naik terus, rakyat kecil makin susah", "0"),
    ("Kapan jalan tol ini selesai dibangun?", "0"),
    ("Judi online harus diberantas, banyak keluarga hancur karena slot", "0"),
    ("I disagree with the minister, the budget cuts will hurt schools.", "0"),
    ("This article is misleading about the election results", "0"),
]


def write(tmp_path, name: str, frame: pd.DataFrame, **options):
    path = tmp_path / name
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, **options)
    return path


@pytest.fixture
def comments() -> pd.DataFrame:
    return pd.DataFrame(COMMENTS, columns=["komentar", "label"])


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run the command in this process: (exit status, stdout, stderr)."""
    try:
        ev.main([str(arg) for arg in argv])
        status = 0
    except SystemExit as exit_:
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_csv_prints_the_table_and_writes_json_and_png_plots(tmp_path, capsys, comments):
    data = write(tmp_path, "comments.csv", comments)
    status, out, _ = run(capsys, "--model", "spam", "--data", data, "--text-column", "komentar",
                         "--label-column", "label", "--positive", "1",
                         "--json", tmp_path / "out" / "result.json", "--plots", tmp_path / "plots")
    assert status == 0
    for line in ("ROC-AUC", "average precision", "F1", "precision", "recall", "macro-F1",
                 "Brier score", "predicted +", "actual -"):
        assert line in out
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    model = load_model("spam")
    assert (result["model"], result["version"]) == ("spam", model.version)
    assert result["threshold"] == model.thresholds["flag"]
    assert (result["rows"], result["positives"]) == (12, 6)
    for metric in ("roc_auc", "average_precision", "f1", "precision", "recall", "macro_f1",
                   "brier"):
        assert 0 <= result[metric] <= 1
    assert result["roc_auc"] >= 0.9  # obvious spam against ordinary news comments
    assert sum(result["confusion"].values()) == 12
    assert result["confusion"]["tp"] + result["confusion"]["fn"] == 6
    for name in ("roc.png", "pr.png", "reliability.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG


@pytest.mark.parametrize(("name", "options", "argv"), [
    ("comments.tsv", {"sep": "\t"}, []),
    ("comments.csv", {"sep": ";", "encoding": "utf-16"}, ["--sep", ";", "--encoding", "utf-16"]),
    ("comments.txt", {"sep": "\t"}, ["--sep", "\\t"]),
    ("comments.xlsx", {}, []),
])
def test_tsv_separator_encoding_and_xlsx_give_the_csv_figures(tmp_path, capsys, comments, name,
                                                              options, argv):
    common = ["--model", "spam", "--text-column", "komentar", "--label-column", "label",
              "--positive", "1"]
    run(capsys, *common, "--data", write(tmp_path, "plain.csv", comments),
        "--json", tmp_path / "plain.json")
    path = write(tmp_path, name, comments, **options)
    status, _, err = run(capsys, *common, *argv, "--data", path, "--json", tmp_path / "other.json")
    assert status == 0, err
    plain, other = (json.loads((tmp_path / f).read_text()) for f in ("plain.json", "other.json"))
    assert {k: v for k, v in other.items() if k != "data"} == \
           {k: v for k, v in plain.items() if k != "data"}


def test_several_positive_values_padded_labels_and_empty_labels(tmp_path, capsys, comments):
    kinds = {"1": [" promo", "fraud ", "promo", "fraud", "promo", "fraud"],
             "0": ["normal"] * 5 + [""]}
    comments["kind"] = kinds["1"] + kinds["0"]
    data = write(tmp_path, "kinds.csv", comments)
    status, out, _ = run(capsys, "--model", "spam", "--data", data, "--text-column", "komentar",
                         "--label-column", "kind", "--positive", "promo", "--positive", "fraud",
                         "--json", tmp_path / "r.json")
    assert status == 0
    result = json.loads((tmp_path / "r.json").read_text())
    assert (result["rows"], result["positives"], result["rows_without_label"]) == (11, 6, 1)
    assert "1 rows without a label left out" in out


@pytest.mark.parametrize(("change", "message"), [
    ({"--data": "missing.csv"}, "no such file"),
    ({"--text-column": "text"}, "no column 'text'"),
    ({"--label-column": "CLASS"}, "no column 'CLASS'"),
    ({"--positive": "spam"}, "has no positive rows"),
    ({"--positive": ["1", "0"]}, "has no negative rows"),
    ({"--model": "ham"}, "unknown model 'ham'"),
    ({"--model": "spam:insult"}, "has no attribute 'insult'"),
    ({"--model": "toxicity:threat"}, "has no attribute 'threat'"),
    ({"--encoding": "no-such-codec"}, "cannot read"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, comments, change, message):
    options = {"--model": "spam", "--data": write(tmp_path, "comments.csv", comments),
               "--text-column": "komentar", "--label-column": "label", "--positive": "1",
               **change}
    if options["--data"] == "missing.csv":
        options["--data"] = tmp_path / "missing.csv"
    argv = [part for key, value in options.items()
            for part in ([key, value] if not isinstance(value, list)
                         else [p for v in value for p in (key, v)])]
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert message in err and out == ""


def test_an_attribute_is_scored_with_its_head_and_its_own_threshold():
    model = load_model("toxicity")
    attribute = model.attributes[0]
    texts = ["dasar goblok lu, otak udang", "anjing lo bangsat", "You are a fucking idiot",
             "Terima kasih atas beritanya", "Great article, very well written",
             "Kapan jalan tol ini selesai dibangun?"]
    result = ev.evaluate(model, texts, [1, 1, 1, 0, 0, 0], attribute)
    assert result["model"] == f"toxicity:{attribute}"
    assert result["threshold"] == model.attribute_thresholds[attribute]["flag"]
    assert sum(result["confusion"].values()) == 6


CARD = """# Model card: spam

- **Version:** `spam-1`

## Held-out metrics

| old | table |
<!-- report:begin -->
stale figures
<!-- report:end -->

## Notes

- keep me
"""


def test_rewrite_card_replaces_the_block_and_only_the_report_key(tmp_path):
    markdown, card = tmp_path / "spam.md", tmp_path / "spam.json"
    markdown.write_text(CARD)
    card.write_text(json.dumps({"name": "spam", "thresholds": {"flag": 0.4},
                                "report": {"old": True}}, indent=2) + "\n")
    for _ in range(2):  # a second run gives the same files
        report.rewrite_card(markdown, card, "## Evaluation\n\n| new | table |", {"f1": 0.97})
        text = markdown.read_text()
        assert "stale figures" not in text and text.count("| new | table |") == 1
        assert text.index(report.BEGIN) < text.index("| new | table |") < text.index(report.END)
        assert "| old | table |" in text and text.endswith("- keep me\n")
        assert json.loads(card.read_text()) == {"name": "spam", "thresholds": {"flag": 0.4},
                                                "report": {"f1": 0.97}}


def test_rewrite_card_appends_the_markers_when_absent(tmp_path):
    markdown, card = tmp_path / "toxicity.md", tmp_path / "toxicity.json"
    markdown.write_text("# Model card: toxicity\n\n- **Version:** `t-1`\n")
    card.write_text('{"name": "toxicity"}\n')
    report.rewrite_card(markdown, card, "block", {"rows": 3})
    assert markdown.read_text() == ("# Model card: toxicity\n\n- **Version:** `t-1`\n\n"
                                    f"{report.HEADING}\n\n{report.BEGIN}\nblock\n"
                                    f"{report.END}\n")
    assert json.loads(card.read_text()) == {"name": "toxicity", "report": {"rows": 3}}


def test_card_block_shows_the_targets_and_says_why_the_peer_is_missing():
    result = {"threshold": 0.5, **metrics.describe([1, 0, 1, 0], [0.9, 0.2, 0.4, 0.1], 0.5)}
    tests = {"en_olid": {"main": result}}
    peer = {"installed": False, "note": "not installed: pip install -r bench/requirements.txt"}
    targets = report.target_rows("toxicity", tests, peer, None)
    olid, davidson = (next(r for r in targets if r["dataset"] == name)
                      for name in ("en_olid", "en_hate_offensive_davidson"))
    assert (olid["ours"], olid["met"]) == (0.7333, False)  # macro-F1: (2/3 + 4/5) / 2
    assert (davidson["ours"], davidson["met"], davidson["peer"]) == (None, None, None)
    block = report.card_block({"created": "2026-01-01T00:00:00+00:00", "version": "toxicity-1",
                               "command": "python -m models.report", "peer": peer,
                               "tests": tests, "targets": targets, "lovo": None})
    assert "not installed: pip install -r bench/requirements.txt" in block
    assert "| OLID official test (English offensive) | main | macro_f1 | 0.7333 |" in block


def test_the_command_and_the_report_agree_on_a_standard_test_set(tmp_path, capsys):
    require_datasets()
    _, test = split_dataset("id_sms_spam")
    data = write(tmp_path, "sms.csv", test[["text", "label"]])
    status, _, _ = run(capsys, "--model", "spam", "--data", data, "--text-column", "text",
                       "--label-column", "label", "--positive", "1", "--json", tmp_path / "r.json")
    assert status == 0
    from_report = report.measure_model(load_model("spam"), {"id_sms_spam": test})
    command = json.loads((tmp_path / "r.json").read_text())
    assert from_report["id_sms_spam"]["main"] == {k: v for k, v in command.items()
                                                  if k not in ("data", "positive_values",
                                                               "rows_without_label")}
