"""The workspace's site pages (admins only; routes on workspace.bp, under /moderate): the
sites, and each site's policy as a form that saves a new, audited version, with the version
history, any old version's JSON, and restoring one as a new version."""
import json

from flask import current_app, flash, redirect, render_template, url_for
from pydantic import ValidationError
from sqlalchemy import select

from . import db
from .errors import InvalidFields, NotFound
from .policy import Policy, changed_fields, model_thresholds, parse_policy, policy_versions, set_policy, site_policy
from .sites import SLUG_PATTERN, find_site
from .tables import CHECKS, Site, SitePolicy
from .workspace import admin_required, bp, current_moderator, show_field_errors
from .workspace_forms import SECTIONS, THRESHOLD_NAMES, PolicyForm, section_fields

PLAIN = ("premoderation", "hold_new_authors", "link_cap", "trusted_after", "trusted_relief", "auto_close_days",
         "erase", "allow_private_callbacks")
LISTS = ("hold_words", "block_words", "link_domains_allow", "link_domains_deny")
EDGES = ("flag", "reject")


@bp.get("/sites")
@admin_required
def list_sites():
    sites = db.session().scalars(select(Site).order_by(Site.slug)).all()
    return render_template("moderate/sites.html", sites=sites)


@bp.get("/sites/<slug>/policy")
@admin_required
def show_policy(slug: str):
    site = find_policy_site(slug)
    return render_policy(site, PolicyForm(formdata=None, data=form_data(site_policy(site), site.policy_version)))


@bp.post("/sites/<slug>/policy")
@admin_required
def save_policy(slug: str):
    """Save the form as a new version, unless it changes nothing or another admin saved a
    version since the form was loaded."""
    site, form = find_policy_site(slug), PolicyForm()
    if not form.validate():
        return render_policy(site, form, 422)
    if form.version.data != str(site.policy_version):
        form.form_errors.append(f"Version {site.policy_version} was saved while you edited, so nothing was saved. "
                                "Check your changes against it (see the history below) and save again.")
        form.version.data = str(site.policy_version)
        return render_policy(site, form, 409)
    try:
        policy = parse_policy(policy_data(form))
    except InvalidFields as error:
        show_field_errors(form, {form_field(form, name): message for name, message in error.fields.items()})
        return render_policy(site, form, 422)
    return store(site, policy, "Saved")


@bp.get("/sites/<slug>/policy/versions/<int:version>")
@admin_required
def show_policy_version(slug: str, version: int):
    site = find_policy_site(slug)
    stored = find_version(site, version)
    try:
        differs = changed_fields(site_policy(site), Policy.model_validate(stored.policy))
    except ValidationError:
        differs = None  # saved under an older form of the policy: shown, not restorable
    return render_template("moderate/policy_version.html", site=site, stored=stored, differs=differs,
                           text=json.dumps(stored.policy, indent=2, ensure_ascii=False))


@bp.post("/sites/<slug>/policy/versions/<int:version>/restore")
@admin_required
def restore_policy(slug: str, version: int):
    """Save an old version as the newest one (the history keeps every version)."""
    site = find_policy_site(slug)
    return store(site, parse_policy(find_version(site, version).policy), f"Restored version {version} as")


def store(site: Site, policy: Policy, verb: str):
    session = db.session()
    changed = changed_fields(site_policy(site), policy)
    if not changed:
        flash(f"Nothing changed: {site.name}'s policy stays at version {site.policy_version}.", "success")
    else:
        version = set_policy(session, site, policy, current_moderator().username)
        session.commit()
        flash(f"{verb} version {version} of {site.name}'s policy; changed: {', '.join(changed)}.", "success")
    return redirect(url_for(".show_policy", slug=site.slug), 303)


def render_policy(site: Site, form: PolicyForm, status: int = 200):
    defaults = model_thresholds(current_app.config["SETTINGS"].models_dir)
    return render_template(
        "moderate/policy.html", site=site, form=form, defaults=defaults, threshold_names=THRESHOLD_NAMES,
        checks=CHECKS, sections={section: {"fields": section_fields(section), "about": model.__doc__}
                                 for section, model in SECTIONS.items()},
        versions=policy_versions(db.session(), site),
    ), status


def find_policy_site(slug: str) -> Site:
    site = find_site(db.session(), slug) if SLUG_PATTERN.match(slug) else None
    if site is None:
        raise NotFound(f"No site {slug!r}.")
    return site


def find_version(site: Site, version: int) -> SitePolicy:
    stored = db.session().scalar(select(SitePolicy).where(SitePolicy.site_id == site.id, SitePolicy.version == version))
    if stored is None:
        raise NotFound(f"{site.name}'s policy has no version {version}.")
    return stored


def form_data(policy: Policy, version: int) -> dict:
    """A policy as the form's fields."""
    data = policy.model_dump(mode="json")
    fields = {name: data[name] for name in PLAIN}
    fields.update(version=str(version), observe=data["observe"] or "", language=data["language"] or "")
    fields.update((name, "\n".join(data[name])) for name in LISTS)
    fields.update((f"fail_{check}", data["fail"][check]) for check in CHECKS)
    fields.update((f"{section}_{name}", value) for section in SECTIONS for name, value in data[section].items())
    fields.update((f"{name}_{edge}", value) for name, limits in data["thresholds"].items()
                  for edge, value in limits.items())
    return fields


def policy_data(form: PolicyForm) -> dict:
    """The policy's JSON from the form; a blank number is left out, so its default applies."""
    data = {name: form[name].data for name in PLAIN if form[name].data is not None}
    data["observe"] = form.observe.data or None
    data["language"] = form.language.data or None
    data.update((name, [line.strip() for line in form[name].data.splitlines() if line.strip()]) for name in LISTS)
    data["fail"] = {check: form[f"fail_{check}"].data for check in CHECKS}
    data.update((section, {name: form[f"{section}_{name}"].data for name in model.model_fields
                           if form[f"{section}_{name}"].data is not None}) for section, model in SECTIONS.items())
    thresholds = {name: {edge: form[f"{name}_{edge}"].data for edge in EDGES if form[f"{name}_{edge}"].data is not None}
                  for name in THRESHOLD_NAMES}
    data["thresholds"] = {name: limits for name, limits in thresholds.items() if limits}
    return data


def form_field(form: PolicyForm, name: str) -> str:
    """The form field beside which a policy error shows: thresholds.spam.flag -> spam_flag,
    thresholds.spam (flag above reject) -> spam_flag, fail.spam -> fail_spam, flood.per_ip -> flood_per_ip."""
    flat = name.removeprefix("thresholds.").replace(".", "_")
    return next((candidate for candidate in (flat, f"{flat}_flag") if candidate in form), name)
