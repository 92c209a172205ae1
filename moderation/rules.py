"""The decision rule: what a comment's check outcomes and its site's policy ask for.

Every rule that fires is a verdict (status, reason code, rule name); the strictest wins
(rejected over flagged over approved) and the reasons list them all, with the policy version
and the thresholds each check was judged by. Pure functions: decisions.py gathers the
context from the database.
"""
from dataclasses import dataclass, field

from .policy import DEFAULT, Policy
from .tables import CheckResult
from .words import find_words, in_domains

REJECT_REASONS = {"spam": "spam", "toxicity": "toxic"}
REJECTING_ATTRIBUTES = ("abusive", "insult", "identity_attack", "threat")  # may reject on their own
SEVERITY = ("rejected", "flagged")
HIGHEST = 0.99  # a trusted author's relaxed threshold never passes this


@dataclass(frozen=True)
class Context:
    """What the decision knows beyond the scores."""

    policy: Policy = field(default_factory=lambda: DEFAULT)
    policy_version: int = 0
    banned: bool = False
    premoderated: bool = False  # the article holds every comment for a moderator
    approved_before: int = 0  # the author's approved comments on the site (by email fingerprint)
    texts: tuple = ()  # name, email, URL and content: what the word lists read
    hosts: tuple = field(default=())  # the hosts of the comment's links


def decide(results: dict[str, CheckResult], context: Context | None = None) -> tuple[str, str | None, dict]:
    """The status, reason code and explanation for a set of check outcomes under a policy."""
    context = context or Context()
    policy = context.policy
    trusted = policy.trusted_after is not None and context.approved_before >= policy.trusted_after
    relief = policy.trusted_relief if trusted else 0.0
    reasons = {"checks": {}, "rule": "below_thresholds", "rules": [], "model_versions": {},
               "policy_version": context.policy_version}
    if trusted:
        reasons["trusted_author"] = True
    verdicts = []
    for check, result in sorted(results.items()):
        if result.model_version:
            reasons["model_versions"][check] = result.model_version
        if result.error is not None:
            reasons["checks"][check] = {"error": result.error, "policy": f"fail_{policy.fail[check]}"}
            if policy.fail[check] == "open":
                reasons.setdefault("degraded", []).append(check)
            else:
                verdicts.append(("flagged", "check_failed", f"{check}_failed"))
            continue
        limits = thresholds(check, result, policy, relief)
        reasons["checks"][check] = explain(result, limits)
        verdict = judge(check, result, limits)
        if verdict:
            verdicts.append(verdict)
    verdicts += apply_policy(context, reasons)
    verdicts.sort(key=lambda verdict: SEVERITY.index(verdict[0]))
    status, reason, rule = verdicts[0] if verdicts else ("approved", None, "below_thresholds")
    reasons["rule"], reasons["rules"] = rule, [verdict[2] for verdict in verdicts]
    if context.banned:
        status, reason = "rejected", "banned_author"
        reasons["rule"], reasons["rules"] = "author_banned", ["author_banned", *reasons["rules"]]
    elif policy.premoderation or context.premoderated:
        status, reason = "flagged", reason or "premoderation"
        rule = "site_premoderated" if policy.premoderation else "article_premoderated"
        reasons["rule"], reasons["rules"] = rule, [rule, *reasons["rules"]]
    if policy.observe:
        reasons["observed"] = {"status": status, "reason": reason, "rule": reasons["rule"]}
        status, reason = ("approved", None) if policy.observe == "publish" else ("flagged", "observe")
        reasons["rule"] = f"observe_{policy.observe}"
    return status, reason, reasons


def apply_policy(context: Context, reasons: dict) -> list[tuple[str, str, str]]:
    """The verdicts of the site's own rules: word lists, links, new authors."""
    policy, verdicts = context.policy, []
    blocked = find_words(policy.block_words, list(context.texts))
    if blocked:
        reasons["block_words"] = blocked
        verdicts.append(("rejected", "blocked_word", "block_word"))
    held = find_words(policy.hold_words, list(context.texts))
    if held:
        reasons["hold_words"] = held
        verdicts.append(("flagged", "held_word", "hold_word"))
    denied = [host for host in context.hosts if in_domains(host, policy.link_domains_deny)]
    if denied:
        reasons["denied_domains"] = denied
        verdicts.append(("rejected", "spam", "link_domain_denied"))
    if policy.link_domains_allow:
        foreign = [host for host in context.hosts if not in_domains(host, policy.link_domains_allow)]
        if foreign:
            reasons["unlisted_domains"] = foreign
            verdicts.append(("flagged", "link_domain", "link_domain_not_allowed"))
    if policy.link_cap is not None and len(context.hosts) > policy.link_cap:
        verdicts.append(("flagged", "too_many_links", "more_links_than_cap"))
    if context.approved_before < policy.hold_new_authors:
        verdicts.append(("flagged", "new_author", "new_author"))
    return verdicts


def thresholds(check: str, result: CheckResult, policy: Policy = DEFAULT, relief: float = 0.0) -> dict:
    """The model's thresholds for a check and its attributes, overridden by the site's policy,
    raised by `relief` for a trusted author."""
    def merge(model: dict, name: str) -> dict:
        override = policy.thresholds.get(name)
        limits = {level: value for level, value in model.items() if level in ("flag", "reject")}
        if override is not None:
            limits.update({level: value for level, value in override.model_dump().items() if value is not None})
        if relief:
            limits = {level: min(value + relief, HIGHEST) for level, value in limits.items()}
        if limits.get("flag", 0) > limits.get("reject", 1):
            limits["flag"] = limits["reject"]
        return limits

    model = result.thresholds or {}
    merged = merge(model, check)
    merged["attributes"] = {name: merge(limits, name) for name, limits in model.get("attributes", {}).items()}
    return merged


def judge(check: str, result: CheckResult, limits: dict | None = None) -> tuple[str, str, str] | None:
    """What one check's scores ask for, as (status, reason code, rule), or None to approve.

    - An attribute that may reject on its own (abuse, insults, identity attacks, threats)
      at or above its reject threshold rejects.
    - The main score at or above its reject threshold rejects only when the comment also
      looks abusive (a rejecting attribute at or above its flag threshold): hate-speech
      labels in the training data include strong political opinion, which a news comment
      section must allow, so that alone is held for a human, never rejected.
    - The main score at or above its flag threshold flags.
    A failed check asks to flag (the default fail-closed policy)."""
    if result.error is not None:
        return "flagged", "check_failed", f"{check}_failed"
    limits = limits or result.thresholds
    reason = REJECT_REASONS[check]
    attribute_limits = limits.get("attributes", {})
    scores = {name: score for name, score in (result.attributes or {}).items() if name in attribute_limits}
    abusive = {
        level: [name for name in REJECTING_ATTRIBUTES
                if name in scores and scores[name] >= attribute_limits[name][level]]
        for level in ("flag", "reject")
    }
    if abusive["reject"]:
        return "rejected", reason, f"{abusive['reject'][0]}_at_or_above_reject_threshold"
    if result.score >= limits["reject"]:
        if not attribute_limits or abusive["flag"]:
            return "rejected", reason, f"{check}_at_or_above_reject_threshold"
        return "flagged", reason, f"{check}_at_or_above_reject_threshold_without_abuse"
    if result.score >= limits["flag"]:
        return "flagged", reason, f"{check}_at_or_above_flag_threshold"
    return None


def explain(result: CheckResult, limits: dict) -> dict:
    return {
        "score": round(result.score, 4),
        "thresholds": limits,
        "attributes": result.attributes or {},
        "terms": result.terms or [],
    }
