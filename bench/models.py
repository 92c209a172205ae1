"""Benchmark: the two checks' models and the peer, alt-profanity-check (SPEC §12).

Per check: artifact size; load time (`load_model` in a fresh process, imports excluded,
median of 3); single-comment latency p50/p99 of `model.score(text)` over ~2,000 real
held-out comments (the test parts of the check's data sets), one at a time, this process
pinned to one core; throughput of `model.predict_proba` on a batch of 1,000 of them; RSS of a
process with both models loaded. In the same run, alt-profanity-check
(`pip install -r bench/requirements.txt`): the same figures on English held-out comments
(next to our toxicity model on the same comments) and its scores on the English test sets
next to ours. Target: p50 under 2 ms per check per comment on one core.

    .venv/bin/python bench/models.py [--comments 2000] [--artifacts models/artifacts]
        [--json bench/results/models.json]
"""
import argparse
import importlib.resources
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import ROOT, CpuMeter, machine, machine_line, markdown_table, percentile  # noqa: E402
from models.datasets import TASKS, datasets_dir, split_dataset  # noqa: E402
from models.evaluate import evaluate  # noqa: E402
from models.report import ENGLISH, PEER, measure_peer  # noqa: E402
from models.scoring import ARTIFACTS, load_model  # noqa: E402

TARGET_P50_MS = 2.0
BATCH = 1000
CHECKS = ("spam", "toxicity")
LOAD_OURS = """
import json, sys, time
from pathlib import Path
import sklearn, skops.io
from models.scoring import load_model
started = time.perf_counter()
load_model(sys.argv[1], Path(sys.argv[2]))
print(json.dumps(time.perf_counter() - started))
"""
LOAD_PEER = """
import json, time
import joblib, sklearn
started = time.perf_counter()
import profanity_check
print(json.dumps(time.perf_counter() - started))
"""
RSS_OURS = """
import json, sys, psutil
from pathlib import Path
from models.scoring import load_model
before = psutil.Process().memory_info().rss
models = [load_model(name, Path(sys.argv[1])) for name in ("spam", "toxicity")]
print(json.dumps({"imports": before, "loaded": psutil.Process().memory_info().rss}))
"""
RSS_PEER = """
import json, psutil
import joblib, sklearn
before = psutil.Process().memory_info().rss
import profanity_check
print(json.dumps({"imports": before, "loaded": psutil.Process().memory_info().rss}))
"""


def in_fresh_process(code: str, *args: str):
    """Run ``code`` in a new interpreter at the repository root; its printed JSON."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, check=True,
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.splitlines()[-1])


def held_out(names, count: int, seed: int = 42) -> list[str]:
    """``count`` texts drawn (fixed seed) from the test parts of the named data sets."""
    texts = [text for name in names for text in split_dataset(name)[1]["text"]]
    picked = np.random.default_rng(seed).choice(len(texts), min(count, len(texts)), replace=False)
    return [texts[i] for i in picked]


def latency(score, texts: list[str]) -> dict:
    """Wall and CPU ms of ``score(text)``, one text at a time, after 100 warm-up calls."""
    for text in texts[:100]:
        score(text)
    wall, cpu = [], []
    for text in texts:
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        score(text)
        cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - started) / 1e6)
    return {"comments": len(texts), "p50_ms": percentile(wall, 50), "p99_ms": percentile(wall, 99),
            "mean_cpu_ms": statistics.fmean(cpu)}


def throughput(predict, texts: list[str], rounds: int = 3) -> float:
    """Comments per second of ``predict(batch)`` on a batch of 1,000 (median of ``rounds``)."""
    batch = (texts * (BATCH // len(texts) + 1))[:BATCH]
    predict(batch[:10])
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        predict(batch)
        seconds.append(time.perf_counter() - started)
    return BATCH / statistics.median(seconds)


def run(count: int, artifacts: Path) -> dict:
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})  # subprocesses inherit it
    corpora = {check: held_out(TASKS[check], count) for check in CHECKS}
    corpora["english"] = held_out(ENGLISH, count)
    meter = CpuMeter().start()
    started = time.monotonic()
    models = {check: load_model(check, artifacts) for check in CHECKS}
    results = {}
    for check, model in models.items():
        results[check] = {
            "version": model.version, "corpus": f"{check} test sets",
            "artifact_bytes": (artifacts / f"{check}.skops").stat().st_size,
            "load_seconds": statistics.median(in_fresh_process(LOAD_OURS, check, str(artifacts))
                                              for _ in range(3)),
            **latency(model.score, corpora[check]),
            "batch_per_second": throughput(model.predict_proba, corpora[check]),
        }
    toxicity = models["toxicity"]
    results["toxicity_english"] = {
        "version": toxicity.version, "corpus": "English test sets",
        **latency(toxicity.score, corpora["english"]),
        "batch_per_second": throughput(toxicity.predict_proba, corpora["english"]),
    }
    rss = {"ours": in_fresh_process(RSS_OURS, str(artifacts))}
    tests = {name: split_dataset(name)[1] for name in ENGLISH}
    quality = {"ours": {name: evaluate(toxicity, test["text"], test["label"])
                        for name, test in tests.items()}, "peer": measure_peer(tests)}
    if quality["peer"]["installed"]:
        from profanity_check import predict_prob

        data = Path(str(importlib.resources.files("profanity_check") / "data"))
        results["peer"] = {
            "version": quality["peer"]["package"], "corpus": "English test sets",
            "artifact_bytes": sum(data.joinpath(f).stat().st_size
                                  for f in ("model.joblib", "vectorizer.joblib")),
            "load_seconds": statistics.median(in_fresh_process(LOAD_PEER) for _ in range(3)),
            **latency(lambda text: predict_prob([text]), corpora["english"]),
            "batch_per_second": throughput(predict_prob, corpora["english"]),
        }
        rss["peer"] = in_fresh_process(RSS_PEER)
    cpu = meter.stop(time.monotonic() - started)
    return {"core": core, "results": results, "rss": rss, "quality": quality, **cpu}


def report(info: dict, data: dict) -> str:
    mb = lambda size: f"{size / 2**20:.1f} MB"  # noqa: E731
    rows = []
    for key, r in data["results"].items():
        name = {"toxicity_english": "toxicity", "peer": PEER}.get(key, key)
        rows.append([f"{name} ({r['corpus']})", mb(r["artifact_bytes"]) if "artifact_bytes" in r else "″",
                     f"{r['load_seconds'] * 1000:.0f} ms" if "load_seconds" in r else "″",
                     f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", f"{r['mean_cpu_ms']:.2f}",
                     f"{r['batch_per_second']:,.0f}",
                     "(peer)" if key == "peer" else "✅ yes" if r["p50_ms"] < TARGET_P50_MS
                     else "❌ no"])
    rss = data["rss"]
    peer = data["quality"]["peer"]
    quality = []
    for name, ours in data["quality"]["ours"].items():
        pairs = [("toxicity (ours)", ours)] + ([(PEER, peer["tests"][name])]
                                               if peer["installed"] else [])
        quality += [[name, model, r["roc_auc"], r["macro_f1"], r["f1"], r["threshold"]]
                    for model, r in pairs]
    lines = [
        "### Models: latency, throughput, memory (one core) and the peer",
        "",
        f"{machine_line(info)}. Pinned to core {data['core']}. {data['results']['spam']['comments']} "
        "held-out comments per row, scored one at a time (`Model.score`, which also finds the "
        "words behind the score; the peer's `predict_prob([text])`), after 100 warm-up calls; "
        f"batch = `predict_proba` on {BATCH:,} of them, median of 3. Load = `load_model` in a "
        "fresh process, imports excluded, median of 3 (the peer: `import profanity_check`).",
        "",
        markdown_table(["Check (comments)", "Artifact", "Load", "p50 ms", "p99 ms", "CPU ms (mean)",
                        f"Batch of {BATCH:,} (comments/s)", f"p50 < {TARGET_P50_MS:g} ms"],
                       rows, align="lrrrrrrl"),
        "",
        f"RSS of a process with both models loaded: {mb(rss['ours']['loaded'])} "
        f"({mb(rss['ours']['loaded'] - rss['ours']['imports'])} over its imports)"
        + (f"; a process with the peer loaded: {mb(rss['peer']['loaded'])} "
           f"({mb(rss['peer']['loaded'] - rss['peer']['imports'])} over its imports)." if "peer" in rss
           else f". Peer {PEER}: {peer['note']}."),
        f"During the run the machine was {data['machine_busy_share']:.0%} busy; other processes "
        f"used {data['other_processes_share']:.1f} cores on average (this one: 1 core).",
        "",
        "English test sets, measured in the same run (ours at the deployed flag threshold, the "
        "peer at 0.5; the peer was trained on Davidson data):",
        "",
        markdown_table(["Test set", "Model", "ROC-AUC", "macro-F1", "F1", "Threshold"], quality,
                       align="llrrrr"),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--comments", type=int, default=2000,
                        help="held-out comments per check for the latency (default 2000)")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS,
                        help="folder holding spam.skops and toxicity.skops (default models/artifacts)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    if not 200 <= args.comments <= 20_000:
        parser.error("--comments must be 200..20000")
    if not datasets_dir().is_dir():
        parser.error(f"the held-out comments come from {datasets_dir()} (MODERATION_DATASETS_DIR), "
                     "which does not exist")
    info = machine()
    data = run(args.comments, args.artifacts.resolve())
    markdown = report(info, data)
    print(markdown)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "models", "machine": info, **data,
                                         "targets": {"p50_ms": f"< {TARGET_P50_MS:g}"},
                                         "markdown": markdown}, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
