"""The decision rule, on check outcomes built in memory."""
import pytest

from moderation.decisions import decide
from moderation.tables import CheckResult

SPAM_LIMITS = {"flag": 0.4, "reject": 0.9}
TOXICITY_LIMITS = {
    "flag": 0.5,
    "reject": 0.9,
    "attributes": {"abusive": {"flag": 0.5, "reject": 0.95}, "hate": {"flag": 0.5, "reject": 0.9}},
}


def outcome(check, score=None, attributes=None, error=None, limits=None):
    return CheckResult(check=check, score=score, attributes=attributes or {}, error=error, terms=[],
                       thresholds=limits or (SPAM_LIMITS if check == "spam" else TOXICITY_LIMITS),
                       model_version=f"{check}-test")


@pytest.mark.parametrize(
    "spam, toxicity, expected",
    [
        (outcome("spam", 0.1), outcome("toxicity", 0.1), ("approved", None, "below_thresholds")),
        (outcome("spam", 0.95), outcome("toxicity", 0.1), ("rejected", "spam", "spam_at_or_above_reject_threshold")),
        (outcome("spam", 0.5), outcome("toxicity", 0.1), ("flagged", "spam", "spam_at_or_above_flag_threshold")),
        (outcome("spam", 0.1), outcome("toxicity", 0.6), ("flagged", "toxic", "toxicity_at_or_above_flag_threshold")),
        # strong political opinion: toxic and hateful by the labels, but no abuse -> a human decides
        (outcome("spam", 0.1), outcome("toxicity", 0.95, {"hate": 0.97, "abusive": 0.2}),
         ("flagged", "toxic", "toxicity_at_or_above_reject_threshold_without_abuse")),
        (outcome("spam", 0.1), outcome("toxicity", 0.95, {"hate": 0.97, "abusive": 0.7}),
         ("rejected", "toxic", "toxicity_at_or_above_reject_threshold")),
        (outcome("spam", 0.1), outcome("toxicity", 0.6, {"abusive": 0.99}),
         ("rejected", "toxic", "abusive_at_or_above_reject_threshold")),
        (outcome("spam", error="RuntimeError after retries"), outcome("toxicity", 0.1),
         ("flagged", "check_failed", "spam_failed")),
        (outcome("spam", 0.95), outcome("toxicity", error="TimeoutError after retries"),
         ("rejected", "spam", "spam_at_or_above_reject_threshold")),
    ],
)
def test_decisions(spam, toxicity, expected):
    status, reason, reasons = decide({"spam": spam, "toxicity": toxicity})
    assert (status, reason, reasons["rule"]) == expected
    assert reasons["model_versions"] == {"spam": "spam-test", "toxicity": "toxicity-test"}
