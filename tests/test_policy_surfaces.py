"""A site's policy, edited where admins edit it: the workspace form, the moderator API and
the CLI. Each saves a validated new version and audits it; bad input is refused field by
field and saves nothing; moderators who are not admins can neither read nor change it."""
import json
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from moderation.policy import DEFAULT, Policy, changed_fields, model_thresholds
from moderation.review_schemas import PolicyVersions, SitePolicyOut
from moderation.tables import AuditEvent, Site, SitePolicy

API = "/api/v1/moderation/sites/poros-warta/policy"
PAGE = "/moderate/sites/poros-warta/policy"
PASSWORD = "correct horse battery"
CARDS = model_thresholds()


# -- helpers -----------------------------------------------------------------------------------

class FormReader(HTMLParser):
    """The fields of one form as a browser would post them: inputs, ticked boxes, textareas
    and each select's chosen option."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields, self.textarea, self.select = form_id, False, {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif not self.inside or "name" not in attrs:
            if tag == "option" and self.select and ("selected" in attrs or self.select not in self.fields):
                self.fields[self.select] = attrs.get("value", "")
        elif tag == "input" and (attrs.get("type") != "checkbox" or "checked" in attrs):
            self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.fields[self.textarea] = ""
        elif tag == "select":
            self.select = attrs["name"]

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.inside = False


def form_fields(html: str, form_id: str = "policy-form") -> dict:
    reader = FormReader(form_id)
    reader.feed(html)
    return {name: re.sub(r"^\r?\n", "", value) for name, value in reader.fields.items()}  # as HTML drops it


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html).group(1)


def log_in(client, username: str):
    page = client.get("/moderate/login")
    response = client.post("/moderate/login", data={"username": username, "password": PASSWORD,
                                                    "csrf_token": csrf_token(page.text)})
    assert response.status_code == 303


def post_form(client, **changes):
    """Load the policy page, change some fields as an admin would, and save."""
    fields = form_fields(client.get(PAGE).text)
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)  # an unticked box
        else:
            fields[name] = value
    return client.post(PAGE, data=fields)


def stored(sessions) -> tuple[int, list[dict], list[AuditEvent]]:
    """The site's current version, every stored version's policy, and its policy_changed events."""
    with sessions() as session:
        site = session.scalar(select(Site).where(Site.slug == "poros-warta"))
        versions = session.execute(select(SitePolicy.version, SitePolicy.policy, SitePolicy.created_by)
                                   .where(SitePolicy.site_id == site.id).order_by(SitePolicy.version)).all()
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "policy_changed")
                                 .order_by(AuditEvent.id)).all()
        return site.policy_version, [dict(row._mapping) for row in versions], events


def field_html(html: str, field_id: str) -> str:
    """The markup beside one field: its .field block, or its row in the thresholds table."""
    match = (re.search(rf'<div class="field[^"]*" id="field-{field_id}">.*?</div>', html, re.S)
             or re.search(rf'<tr id="thresholds-{field_id.rsplit("_", 1)[0]}".*?</tr>', html, re.S))
    return match.group(0)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"error", "message", "fields"} and body["error"] == code
    return body["fields"]


@pytest.fixture
def root(make_moderator, token_for):
    """An admin's API token."""
    make_moderator("root", role="admin", sites=())
    return token_for("root")


@pytest.fixture
def admin_browser(app, make_moderator):
    """An admin logged in to the workspace."""
    make_moderator("ada", role="admin", sites=())
    browser = app.test_client()
    log_in(browser, "ada")
    return browser


# -- the workspace -----------------------------------------------------------------------------

def test_admins_see_the_sites_and_a_form_of_the_current_policy(app, admin_browser, site):
    sites = admin_browser.get("/moderate/sites")
    assert sites.status_code == 200
    assert 'id="site-poros-warta"' in sites.text and "Poros Warta" in sites.text and PAGE in sites.text
    page = admin_browser.get(PAGE)
    assert page.status_code == 200 and "the defaults (no version saved yet)" in page.text
    fields = form_fields(page.text)
    assert fields["version"] == "0" and "premoderation" not in fields and fields["fail_spam"] == "closed"
    assert fields["flood_per_ip"] == "10" and fields["observe"] == "" and fields["spam_flag"] == ""
    spam_row = field_html(page.text, "spam_flag")
    assert f'placeholder="{CARDS["spam"]["flag"]}"' in spam_row
    assert f'placeholder="{CARDS["spam"]["reject"]}"' in spam_row
    assert f'placeholder="{CARDS["abusive"]["reject"]}"' in field_html(page.text, "abusive_flag")
    assert 'placeholder="no model"' in field_html(page.text, "threat_flag")  # no model head scores threats yet
    assert Policy.model_fields["hold_words"].description in field_html(page.text, "hold_words")


def test_saving_the_form_stores_an_audited_version_and_the_history_shows_it(app, sessions, admin_browser, site):
    saved = post_form(admin_browser, premoderation="y", spam_flag="0.3", toxicity_reject="0.95",
                      hold_words="slot gacor\n\n maxwin \n", link_domains_deny="Judi.example\n.pulauwin.example",
                      observe="hold", fail_toxicity="open", flood_per_ip="3", link_cap="2", trusted_after="",
                      trusted_relief="0.2")
    assert saved.status_code == 303 and saved.headers["Location"].endswith(PAGE)
    version, versions, events = stored(sessions)
    policy = versions[0]["policy"]
    assert version == 1 and versions[0]["created_by"] == "ada"
    assert policy["premoderation"] is True and policy["observe"] == "hold" and policy["link_cap"] == 2
    assert policy["thresholds"] == {"spam": {"flag": 0.3, "reject": None}, "toxicity": {"flag": None, "reject": 0.95}}
    assert policy["hold_words"] == ["slot gacor", "maxwin"]
    assert policy["link_domains_deny"] == ["judi.example", "pulauwin.example"]
    assert policy["fail"] == {"spam": "closed", "toxicity": "open"} and policy["flood"]["per_ip"] == 3
    assert policy["trusted_after"] is None and policy["trusted_relief"] == 0.2
    assert [(e.actor, e.details["version"]) for e in events] == [("ada", 1)]
    assert events[0].details["changed"] == ["fail", "flood", "hold_words", "link_cap", "link_domains_deny",
                                            "observe", "premoderation", "thresholds", "trusted_relief"]
    page = admin_browser.get(PAGE)
    assert "Saved version 1 of Poros Warta" in page.text
    fields = form_fields(page.text)
    assert fields["hold_words"] == "slot gacor\nmaxwin" and fields["spam_flag"] == "0.3" and fields["version"] == "1"
    assert "ada" in re.search(r'<tr id="version-1".*?</tr>', page.text, re.S).group(0)

    unchanged = admin_browser.post(PAGE, data=form_fields(page.text))  # the form as loaded: nothing to save
    assert unchanged.status_code == 303 and stored(sessions)[0] == 1
    assert "Nothing changed" in admin_browser.get(PAGE).text

    assert post_form(admin_browser, premoderation=None, hold_words="").status_code == 303
    version, versions, events = stored(sessions)
    assert version == 2 and versions[1]["policy"]["hold_words"] == [] and not versions[1]["policy"]["premoderation"]
    assert events[-1].details["changed"] == ["hold_words", "premoderation"]
    history = admin_browser.get(PAGE).text
    assert re.findall(r'<tr id="version-(\d+)"', history) == ["2", "1"]
    assert "hold_words, premoderation" in re.search(r'<tr id="version-2".*?</tr>', history, re.S).group(0)

    old = admin_browser.get(f"{PAGE}/versions/1")
    assert old.status_code == 200 and "slot gacor" in old.text and "hold_words, premoderation" in old.text
    assert json.loads(re.search(r'<pre class="policy-json" id="policy-json">(.*?)</pre>', old.text, re.S).group(1)
                      .replace("&#34;", '"').replace("&quot;", '"')) == versions[0]["policy"]
    restored = admin_browser.post(f"{PAGE}/versions/1/restore", data={"csrf_token": csrf_token(old.text)})
    assert restored.status_code == 303
    version, versions, events = stored(sessions)
    assert version == 3 and versions[2]["policy"] == versions[0]["policy"] and events[-1].actor == "ada"
    assert "Restored version 1 as version 3" in admin_browser.get(PAGE).text
    assert admin_browser.get(f"{PAGE}/versions/9").status_code == 404
    assert admin_browser.get("/moderate/sites/nowhere/policy").status_code == 404


def test_the_form_keeps_and_edits_the_perspective_options(sessions, client, site, root, admin_browser):
    """Set through the API, shown on the page, kept by a save of other fields (the page builds
    the whole policy from its fields), changed by its own fields; a blank one is the default."""
    assert client.put(API, headers=root, json={"perspective": {"quota_per_minute": 120,
                                                               "time_budget_ms": 900}}).status_code == 200
    page = admin_browser.get(PAGE).text
    fields = form_fields(page)
    assert (fields["perspective_quota_per_minute"], fields["perspective_time_budget_ms"]) == ("120", "900")
    section = re.search(r'<fieldset class="policy-section" id="section-perspective">.*?</fieldset>', page, re.S)
    assert "Perspective-compatible API" in section.group(0) and "/perspective/v1alpha1" in section.group(0)
    budget = field_html(page, "perspective_time_budget_ms")
    assert "Time budget (ms)" in budget and "503" in budget and 'min="50"' in budget and 'max="4000"' in budget
    assert "Analyze requests per minute" in field_html(page, "perspective_quota_per_minute")

    assert post_form(admin_browser, link_cap="4").status_code == 303
    version, versions, events = stored(sessions)
    assert version == 2 and versions[1]["policy"]["perspective"] == {"quota_per_minute": 120, "time_budget_ms": 900}
    assert events[-1].details["changed"] == ["link_cap"]

    assert post_form(admin_browser, perspective_quota_per_minute="0", perspective_time_budget_ms="").status_code == 303
    version, versions, events = stored(sessions)
    assert version == 3 and versions[2]["policy"]["perspective"] == {"quota_per_minute": 0, "time_budget_ms": 250}
    assert events[-1].details["changed"] == ["perspective"]


EVERY_FIELD = {  # a policy in which no field has its default
    "thresholds": {"spam": {"flag": 0.3, "reject": 0.9}, "insult": {"flag": 0.5, "reject": None}},
    "premoderation": True, "hold_new_authors": 2, "hold_words": ["slot gacor"], "block_words": ["judi"],
    "link_cap": 3, "link_domains_allow": ["poroswarta.example"], "link_domains_deny": ["judi.example"],
    "trusted_after": 5, "trusted_relief": 0.2, "fail": {"spam": "open", "toxicity": "open"}, "auto_close_days": 30,
    "observe": "publish", "flood": {"per_site": 100, "per_ip": 3, "per_email": 2},
    "perspective": {"quota_per_minute": 60, "time_budget_ms": 1000}, "language": "en", "erase": "remove",
    "allow_private_callbacks": True,
}


def test_the_form_carries_every_field_of_the_policy(sessions, client, site, root, admin_browser):
    """Saving the page as loaded changes nothing, whatever the policy: a field the page did not
    show would fall back to its default. (A new policy field belongs in EVERY_FIELD too.)"""
    assert changed_fields(DEFAULT, Policy.model_validate(EVERY_FIELD)) == sorted(Policy.model_fields)
    assert client.put(API, headers=root, json=EVERY_FIELD).status_code == 200
    saved = admin_browser.post(PAGE, data=form_fields(admin_browser.get(PAGE).text))
    assert saved.status_code == 303 and "Nothing changed" in admin_browser.get(PAGE).text
    version, versions, _ = stored(sessions)
    assert version == 1 and Policy.model_validate(versions[0]["policy"]) == Policy.model_validate(EVERY_FIELD)


LONG_LIST = "\n".join(f"kata{i}" for i in range(5001))


@pytest.mark.parametrize("changes, field, message", [
    ({"spam_flag": "0.9", "spam_reject": "0.5"}, "spam_flag", "flag must not be above reject"),
    ({"insult_reject": "1.5"}, "insult_reject", "less than or equal to 1"),
    ({"spam_flag": "lots"}, "spam_flag", "Not a valid float value"),
    ({"link_cap": "-1"}, "link_cap", "greater than or equal to 0"),
    ({"flood_per_ip": "-5"}, "flood_per_ip", "greater than or equal to 0"),
    ({"perspective_time_budget_ms": "20"}, "perspective_time_budget_ms", "greater than or equal to 50"),
    ({"perspective_quota_per_minute": "lots"}, "perspective_quota_per_minute", "Not a valid integer value"),
    ({"hold_new_authors": "2.5"}, "hold_new_authors", "Not a valid integer value"),
    ({"trusted_relief": "0.9"}, "trusted_relief", "less than or equal to 0.5"),
    ({"link_domains_deny": "judi.example/slot"}, "link_domains_deny", "a domain name such as example.com"),
    ({"hold_words": "ok\n" + "x" * 101}, "hold_words", "1 to 100 characters"),
    ({"block_words": LONG_LIST}, "block_words", "at most 5000 items"),
    ({"observe": "sometimes"}, "observe", "Not a valid choice"),
])
def test_bad_form_input_shows_beside_its_field_and_saves_nothing(sessions, admin_browser, site, changes, field,
                                                                  message):
    response = post_form(admin_browser, premoderation="y", **changes)
    assert response.status_code == 422
    assert message in field_html(response.text, field)
    assert 'class="field-error"' in field_html(response.text, field)
    assert form_fields(response.text)["premoderation"] == "y"  # the rest of the admin's edit is kept
    assert stored(sessions) == (0, [], [])


def test_a_form_loaded_before_another_save_is_refused(sessions, admin_browser, site, root, client):
    stale = form_fields(admin_browser.get(PAGE).text)
    assert client.put(API, headers=root, json={"premoderation": True}).status_code == 200
    response = admin_browser.post(PAGE, data={**stale, "link_cap": "1"})
    assert response.status_code == 409 and "Version 1 was saved while you edited" in response.text
    assert stored(sessions)[0] == 1 and form_fields(response.text)["link_cap"] == "1"
    assert admin_browser.post(PAGE, data=form_fields(response.text)).status_code == 303  # saved on a second look
    version, versions, _ = stored(sessions)
    assert version == 2 and versions[1]["policy"]["link_cap"] == 1


def test_moderators_cannot_open_or_save_site_policies(app, sessions, client, site, make_moderator, root):
    assert client.put(API, headers=root, json={"link_cap": 3}).status_code == 200
    make_moderator("mira")
    log_in(client, "mira")
    token = csrf_token(client.get("/moderate/account").text)
    for url in ("/moderate/sites", PAGE, f"{PAGE}/versions/1"):
        response = client.get(url)
        assert response.status_code == 403 and "link_cap" not in response.text, url
    for url in (PAGE, f"{PAGE}/versions/1/restore"):
        assert client.post(url, data={"csrf_token": token, "version": "1", "link_cap": "9"}).status_code == 403
    assert stored(sessions)[0] == 1 and len(stored(sessions)[1]) == 1


# -- the moderator API -------------------------------------------------------------------------

def test_the_api_reads_and_replaces_the_policy_in_audited_versions(app, sessions, client, site, root):
    first = SitePolicyOut.model_validate(client.get(API, headers=root).get_json())
    assert (first.site, first.version, first.current_version) == ("poros-warta", 0, 0)
    assert first.policy == DEFAULT and first.defaults.policy == DEFAULT
    assert first.defaults.model_thresholds["spam"].flag == CARDS["spam"]["flag"]
    assert first.defaults.model_thresholds["identity_attack"].reject == CARDS["identity_attack"]["reject"]

    change = {"thresholds": {"spam": {"flag": 0.35, "reject": 0.8}}, "block_words": ["slot gacor"],
              "link_domains_allow": ["PorosWarta.example"], "erase": "remove", "flood": {"per_email": 2}}
    saved = client.put(API, headers=root, json=change)
    assert saved.status_code == 200
    answer = SitePolicyOut.model_validate(saved.get_json())
    assert answer.version == answer.current_version == 1
    assert answer.policy.link_domains_allow == ["poroswarta.example"] and answer.policy.flood.per_email == 2
    assert answer.policy.flood.per_ip == DEFAULT.flood.per_ip  # left out: the default
    version, versions, events = stored(sessions)
    assert version == 1 and versions[0]["policy"] == answer.policy.model_dump(mode="json")
    assert [(e.actor, e.details) for e in events] == [
        ("root", {"version": 1, "changed": ["block_words", "erase", "flood", "link_domains_allow", "thresholds"]})]

    again = client.put(API, headers=root, json=change)  # the same policy: no new version
    assert again.get_json()["version"] == 1 and stored(sessions)[0] == 1
    assert client.put(API, headers=root, json={**change, "erase": "anonymise"}).get_json()["version"] == 2

    history = PolicyVersions.model_validate(client.get(f"{API}/versions", headers=root).get_json())
    assert history.current_version == 2 and [v.version for v in history.versions] == [2, 1]
    assert [v.created_by for v in history.versions] == ["root", "root"] and history.versions[0].changed == ["erase"]
    old = SitePolicyOut.model_validate(client.get(f"{API}?version=1", headers=root).get_json())
    assert (old.version, old.current_version, old.policy.erase) == (1, 2, "remove")
    assert error(client.get(f"{API}?version=7", headers=root), 404, "not_found") == {}
    assert "version" in error(client.get(f"{API}?version=zero", headers=root), 422, "invalid_fields")
    for url in ("/api/v1/moderation/sites/nowhere/policy", "/api/v1/moderation/sites/nowhere/policy/versions"):
        error(client.get(url, headers=root), 404, "not_found")
    error(client.put("/api/v1/moderation/sites/nowhere/policy", headers=root, json=change), 404, "not_found")


@pytest.mark.parametrize("body, field", [
    ({"bogus": 1}, "bogus"),
    ({"thresholds": {"spam": {"flag": 0.9, "reject": 0.4}}}, "thresholds.spam"),
    ({"thresholds": {"virus": {"flag": 0.5}}}, "thresholds"),
    ({"thresholds": {"spam": {"flag": -0.1}}}, "thresholds.spam.flag"),
    ({"fail": {"virus": "open"}}, "fail"),
    ({"fail": {"spam": "sometimes"}}, "fail.spam"),
    ({"link_cap": -1}, "link_cap"),
    ({"hold_new_authors": -3}, "hold_new_authors"),
    ({"flood": {"per_ip": -1}}, "flood.per_ip"),
    ({"link_domains_deny": ["judi.example/slot"]}, "link_domains_deny"),
    ({"hold_words": ["kata"] * 5001}, "hold_words"),
    ({"block_words": ["x" * 101]}, "block_words"),
    ({"block_words": "slot gacor"}, "block_words"),
    ({"premoderation": "yes"}, "premoderation"),
    ({"observe": "off"}, "observe"),
    ({"hold_words": ["slot\u0000gacor"]}, "hold_words"),
])
def test_bad_policies_are_field_errors_and_save_nothing(sessions, client, site, root, body, field):
    fields = error(client.put(API, headers=root, json=body), 422, "invalid_fields")
    assert field in fields and fields[field]
    assert stored(sessions) == (0, [], [])


def test_a_policy_body_must_be_a_json_object(sessions, client, site, root):
    error(client.put(API, headers=root, json=[{"premoderation": True}]), 400, "malformed_body")
    error(client.put(API, headers=root, data="{not json", content_type="application/json"), 400, "malformed_body")
    error(client.put(API, headers=root, data='{"trusted_relief": NaN}', content_type="application/json"), 422,
          "invalid_fields")
    error(client.put(API, headers=root, data="premoderation=1"), 415, "unsupported_media_type")
    broken = b'{"link_domains_deny": ["judi\xff.example"]}'  # not UTF-8
    assert "link_domains_deny" in error(client.put(API, headers=root, data=broken, content_type="application/json"),
                                        422, "invalid_fields")
    assert stored(sessions) == (0, [], [])


def test_moderators_cannot_read_or_change_policies_through_the_api(sessions, client, site, root, make_moderator,
                                                                  token_for):
    assert client.put(API, headers=root, json={"link_cap": 3}).status_code == 200
    make_moderator("mira")
    mira = token_for("mira")
    for method, url in (("get", API), ("get", f"{API}?version=1"), ("get", f"{API}/versions"), ("put", API),
                        ("get", "/api/v1/moderation/sites/nowhere/policy")):  # nor learn which sites exist
        response = client.open(url, method=method, headers=mira, json={"link_cap": 9})
        assert error(response, 403, "forbidden") == {} and "link_cap" not in response.get_data(as_text=True)
    assert stored(sessions)[0] == 1


def test_the_openapi_document_describes_the_policy(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    put = document["paths"]["/api/v1/moderation/sites/{slug}/policy"]["put"]
    assert put["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Policy"}
    assert {"403", "404", "422"} <= set(put["responses"])
    assert set(schemas["Policy"]["properties"]) == set(Policy.model_fields)
    assert schemas["Policy"]["additionalProperties"] is False
    assert schemas["Thresholds"]["properties"]["flag"]["anyOf"][0] == {"type": "number", "minimum": 0, "maximum": 1}
    assert schemas["SitePolicyOut"]["properties"]["policy"] == {"$ref": "#/components/schemas/Policy"}


# -- the CLI -----------------------------------------------------------------------------------

def test_the_cli_round_trips_a_policy(app, sessions, site, tmp_path):
    runner = app.test_cli_runner()
    shown = runner.invoke(args=["show-policy", "poros-warta"])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == DEFAULT.model_dump(mode="json")
    policy = json.loads(shown.stdout)
    policy.update(hold_words=["judi online", "rtp"], link_cap=1, observe="publish")
    policy["thresholds"]["toxicity"] = {"flag": 0.5, "reject": None}
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy, ensure_ascii=False))
    saved = runner.invoke(args=["set-policy", "poros-warta", str(path)])
    assert saved.exit_code == 0, saved.output
    assert saved.stdout == "version 1 (changed: hold_words, link_cap, observe, thresholds)\n"
    assert json.loads(runner.invoke(args=["show-policy", "poros-warta"]).stdout) == policy
    again = runner.invoke(args=["set-policy", "poros-warta", "-"], input=path.read_text())  # stdin
    assert again.exit_code == 0 and again.stdout == "version 1 (nothing changed)\n"
    changed = runner.invoke(args=["set-policy", "poros-warta", "-"], input='{"link_cap": 4}')
    assert changed.stdout.startswith("version 2")
    assert json.loads(runner.invoke(args=["show-policy", "poros-warta", "--version", "1"]).stdout) == policy
    version, versions, events = stored(sessions)
    assert version == 2 and [v["created_by"] for v in versions] == ["cli", "cli"]
    assert [(e.actor, e.details["version"]) for e in events] == [("cli", 1), ("cli", 2)]


@pytest.mark.parametrize("text, expected", [
    ('{"link_cap": -1, "bogus": true}', ["link_cap: Input should be greater than or equal to 0",
                                         "bogus: Unknown field."]),
    ('[{"link_cap": 1}]', ["policy: Must be an object."]),
    ('{"link_domains_allow": ["a.example/b"]}', ["link_domains_allow: each entry is a domain name"]),
    ("{not json", ["is not JSON"]),
])
def test_the_cli_prints_field_errors_and_exits_1(app, sessions, site, text, expected):
    result = app.test_cli_runner().invoke(args=["set-policy", "poros-warta", "-"], input=text)
    assert result.exit_code == 1 and result.stdout == ""
    assert all(line in result.stderr for line in expected), result.stderr
    assert stored(sessions) == (0, [], [])


def test_the_cli_names_what_it_cannot_find_and_explains_itself(app, site):
    runner = app.test_cli_runner()
    for args, message in ((["set-policy", "nowhere", "-"], "no site 'nowhere'"),
                          (["show-policy", "nowhere"], "no site 'nowhere'"),
                          (["show-policy", "poros-warta", "--version", "3"], "no policy version 3")):
        result = runner.invoke(args=args, input="{}")
        assert result.exit_code == 1 and message in result.stderr, result.output
    for command in ("set-policy", "show-policy"):
        help_text = runner.invoke(args=[command, "--help"])
        assert help_text.exit_code == 0 and "JSON" in help_text.stdout


# -- every surface, one history ----------------------------------------------------------------

def test_every_surface_adds_to_one_history(sessions, client, site, root, admin_browser):
    assert post_form(admin_browser, link_cap="5").status_code == 303
    assert client.put(API, headers=root, json={"link_cap": 6}).status_code == 200
    runner = admin_browser.application.test_cli_runner()
    assert runner.invoke(args=["set-policy", "poros-warta", "-"], input='{"link_cap": 7}').exit_code == 0
    version, versions, events = stored(sessions)
    assert version == 3 and [(v["created_by"], v["policy"]["link_cap"]) for v in versions] == [
        ("ada", 5), ("root", 6), ("cli", 7)]
    with sessions() as session:
        site_id = session.scalar(select(Site.id).where(Site.slug == "poros-warta"))
    assert [e.actor for e in events] == ["ada", "root", "cli"] and {e.site_id for e in events} == {site_id}
    history = client.get(f"{API}/versions", headers=root).get_json()["versions"]
    assert [(v["version"], v["created_by"], v["changed"]) for v in history] == [
        (3, "cli", ["link_cap"]), (2, "root", ["link_cap"]), (1, "ada", ["link_cap"])]
    page = admin_browser.get(PAGE).text
    assert re.findall(r'<tr id="version-(\d+)"', page) == ["3", "2", "1"] and form_fields(page)["link_cap"] == "7"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(SitePolicy)) == 3  # and no other site's
