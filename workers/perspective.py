"""The one job that carries text: scoring a Perspective client's comment (moderation.perspective).
There is no comment row: the text comes in the job and the outputs go back in its result,
which the waiting web request reads and deletes at once."""
import re
import time

from .runtime import model

SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n+|$)")  # a sentence and the punctuation that ends it


def analyze_text(text: str, spans: bool = False, deadline: float | None = None) -> dict:
    """The toxicity model's outputs (its score as `toxicity`, and each attribute head's) for
    the text, and, with `spans`, for each sentence with its begin and end offsets. Past the
    `deadline` (a Unix time: the request has given up) the sentences are left unscored, so a
    long text cannot hold the worker from the next request."""
    scorer = model("toxicity")
    answer = {"text": outputs(scorer, text), "spans": []}
    for begin, end in sentences(text) if spans else []:
        if deadline is not None and time.time() > deadline:
            break
        answer["spans"].append({"begin": begin, "end": end, "outputs": outputs(scorer, text[begin:end])})
    return answer


def outputs(scorer, text: str) -> dict[str, float]:
    score = scorer.score(text)
    return {"toxicity": score.probability, **score.attributes}


def sentences(text: str) -> list[tuple[int, int]]:
    """(begin, end) of each sentence that has a letter or digit, trailing spaces left out."""
    found = []
    for match in SENTENCE.finditer(text):
        begin, end = match.start(), match.end()
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if any(char.isalnum() for char in text[begin:end]):
            found.append((begin, end))
    return found or [(0, len(text))]
