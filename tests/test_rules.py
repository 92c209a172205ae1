"""The decision rule, on check outcomes built in memory, under the default policy and under
sites' own policies."""
import pytest

from moderation.policy import Policy
from moderation.rules import Context, decide
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


def policy(**values) -> Policy:
    return Policy.model_validate(values)


def clean():
    return {"spam": outcome("spam", 0.1), "toxicity": outcome("toxicity", 0.2, {"abusive": 0.1, "hate": 0.1})}


def verdict(results=None, **context):
    status, reason, reasons = decide(results or clean(), Context(**context))
    return status, reason, reasons["rule"], reasons


def test_a_site_sets_its_own_thresholds_per_check_and_attribute():
    results = {"spam": outcome("spam", 0.3), "toxicity": outcome("toxicity", 0.45, {"abusive": 0.6, "hate": 0.1})}
    assert verdict(results)[0] == "approved"  # under the model's own thresholds
    strict = policy(thresholds={"spam": {"flag": 0.25}, "abusive": {"reject": 0.55}})
    status, reason, rule, reasons = verdict(results, policy=strict, policy_version=7)
    assert (status, reason, rule) == ("rejected", "toxic", "abusive_at_or_above_reject_threshold")
    assert reasons["checks"]["spam"]["thresholds"]["flag"] == 0.25 and reasons["policy_version"] == 7
    lenient = policy(thresholds={"toxicity": {"flag": 0.9, "reject": 0.95}, "abusive": {"flag": 0.9, "reject": 0.95}})
    assert verdict(results, policy=lenient)[0] == "approved"


def test_a_trusted_author_gets_relaxed_thresholds():
    results = {"spam": outcome("spam", 0.45), "toxicity": outcome("toxicity", 0.1)}
    trusting = policy(trusted_after=3, trusted_relief=0.1)
    assert verdict(results, policy=trusting, approved_before=2)[0] == "flagged"
    status, _, _, reasons = verdict(results, policy=trusting, approved_before=3)
    assert status == "approved" and reasons["trusted_author"] is True
    assert reasons["checks"]["spam"]["thresholds"] == {"flag": 0.5, "reject": 0.99, "attributes": {}}


@pytest.mark.parametrize("fail, expected", [("closed", ("flagged", "check_failed")), ("open", ("approved", None))])
def test_a_failed_check_follows_the_fail_policy(fail, expected):
    results = {"spam": outcome("spam", error="TimeoutError after retries"), "toxicity": outcome("toxicity", 0.1)}
    status, reason, _, reasons = verdict(results, policy=policy(fail={"spam": fail}))
    assert (status, reason) == expected
    assert reasons["checks"]["spam"] == {"error": "TimeoutError after retries", "policy": f"fail_{fail}"}
    assert reasons.get("degraded") == (["spam"] if fail == "open" else None)


@pytest.mark.parametrize("texts", [
    ("Budi", None, None, "Dasar G O B L O K kamu"),
    ("Budi", None, None, "g0bl0k"),
    ("Budi", None, None, "gooooblok!!"),
    ("GOBLOK", None, None, "komentar biasa"),
    ("Budi", "goblok@example.com", None, "komentar biasa"),
    ("Budi", None, "https://goblok.example.id", "komentar biasa"),
])
def test_block_words_reject_in_every_field_through_disguises(texts):
    status, reason, rule, reasons = verdict(policy=policy(block_words=["Goblok"]), texts=texts)
    assert (status, reason, rule) == ("rejected", "blocked_word", "block_word") and reasons["block_words"] == ["goblok"]


def test_words_match_whole_words_only_and_hold_words_flag():
    rules = policy(block_words=["slot"], hold_words=["pemilu curang"])
    assert verdict(policy=rules, texts=("Ana", None, None, "timeslots and slotted"))[0] == "approved"
    status, reason, rule, reasons = verdict(policy=rules, texts=("Ana", None, None, "Pemilu  CURANG katanya"))
    assert (status, reason, rule, reasons["hold_words"]) == ("flagged", "held_word", "hold_word", ["pemilu curang"])


def test_links_a_cap_and_domain_lists():
    hosts = ("bit.ly", "poroswarta.example")
    assert verdict(policy=policy(link_cap=1), hosts=hosts)[2] == "more_links_than_cap"
    assert verdict(policy=policy(link_cap=2), hosts=hosts)[0] == "approved"
    denied = verdict(policy=policy(link_domains_deny=["bit.ly"]), hosts=hosts)
    assert denied[:3] == ("rejected", "spam", "link_domain_denied") and denied[3]["denied_domains"] == ["bit.ly"]
    allowed = verdict(policy=policy(link_domains_allow=["example"]), hosts=("news.poroswarta.example",))
    assert allowed[0] == "approved"
    assert verdict(policy=policy(link_domains_allow=["example"]), hosts=hosts)[2] == "link_domain_not_allowed"


def test_new_authors_are_held_until_enough_were_approved():
    assert verdict(policy=policy(hold_new_authors=2), approved_before=1)[:3] == ("flagged", "new_author", "new_author")
    assert verdict(policy=policy(hold_new_authors=2), approved_before=2)[0] == "approved"


def test_premoderation_holds_everything_but_a_ban_rejects():
    spam = {"spam": outcome("spam", 0.95), "toxicity": outcome("toxicity", 0.1)}
    assert verdict(spam, policy=policy(premoderation=True))[:3] == ("flagged", "spam", "site_premoderated")
    assert verdict(premoderated=True)[:3] == ("flagged", "premoderation", "article_premoderated")
    assert verdict(spam, policy=policy(premoderation=True), banned=True)[:3] == (
        "rejected", "banned_author", "author_banned")


@pytest.mark.parametrize("mode, enforced", [("publish", "approved"), ("hold", "flagged")])
def test_observe_mode_records_the_decision_but_enforces_nothing(mode, enforced):
    spam = {"spam": outcome("spam", 0.95), "toxicity": outcome("toxicity", 0.1)}
    status, _, rule, reasons = verdict(spam, policy=policy(observe=mode))
    assert (status, rule) == (enforced, f"observe_{mode}")
    assert reasons["observed"] == {"status": "rejected", "reason": "spam", "rule": "spam_at_or_above_reject_threshold"}
