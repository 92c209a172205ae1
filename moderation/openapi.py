"""The OpenAPI document, built from the pydantic schemas and served at /api/v1/openapi.json."""
from flask import Blueprint, jsonify

from . import review_schemas as moderation
from .schemas import CommentAccepted, CommentIn, CommentView, Error, ThreadPage

bp = Blueprint("openapi", __name__)
SCHEMAS = (CommentIn, CommentAccepted, CommentView, ThreadPage, Error, *moderation.REQUESTS, *moderation.ANSWERS)
REF = "#/components/schemas/{model}"
ERRORS = {
    400: "Malformed JSON body.",
    401: "Missing or invalid site API key.",
    404: "Unknown comment or site.",
    413: "Body too large.",
    415: "Not JSON.",
    422: "Field errors, one message per field.",
    503: "Storage unavailable; nothing was saved.",
}
MODERATION_ERRORS = ERRORS | {
    401: "Missing, invalid or revoked moderator token (a site API key is not one).",
    403: "Only an admin may do this.",
    404: "Not found, or of a site the caller may not see (the two are indistinguishable).",
    409: "The rule no longer selects the `expect` comments of its dry run; preview it again.",
}


def ref(model) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def responds(model, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def errors(*statuses: int, text: dict = ERRORS) -> dict:
    return {str(status): responds(Error, text[status]) for status in statuses}


def build_document() -> dict:
    schemas = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    site_key = [{"siteKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Saring comment moderation API",
            "version": "1",
            "description": "Sites post reader comments; Saring checks them for spam and toxicity and decides.",
        },
        "paths": {
            "/api/v1/comments": {
                "post": {
                    "operationId": "submitComment",
                    "summary": "Submit a comment or reply; it is stored before the 202 is sent.",
                    "security": site_key,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": ref(CommentIn)}}},
                    "responses": {
                        "202": responds(CommentAccepted, "Accepted and stored; checks queued."),
                        **errors(400, 401, 413, 415, 422, 503),
                    },
                }
            },
            "/api/v1/comments/{comment_id}": {
                "get": {
                    "operationId": "getComment",
                    "summary": "A comment's status, scores, reasons and model versions (its own site only).",
                    "security": site_key,
                    "parameters": [{"name": "comment_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": responds(CommentView, "The comment."), **errors(401, 404, 503)},
                }
            },
            "/api/v1/sites/{site}/articles/{article_id}/comments": {
                "get": {
                    "operationId": "listThread",
                    "summary": "The approved comments of a thread, threaded and paginated (public).",
                    "parameters": [
                        {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "article_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
                        {
                            "name": "per_page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                        },
                    ],
                    "responses": {"200": responds(ThreadPage, "One page of the thread."), **errors(404, 422, 503)},
                }
            },
            **moderation_paths(),
        },
        "tags": [{"name": "moderation", "description": "The moderators' workspace, for moderator API tokens."}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "siteKey": {"type": "http", "scheme": "bearer", "description": "The site's API key."},
                "moderatorToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A moderator's API token, mt_…, issued by POST /api/v1/moderation/tokens.",
                },
            },
        },
    }


def moderation_paths() -> dict:
    """The moderator API, /api/v1/moderation: one line per operation."""
    comment = path_parameter("comment_id", "A comment's id.")
    site = path_parameter("slug", "A site's slug.")
    m = moderation
    routes = {
        "/me": {"get": operation("getMe", "The caller: username, role, the sites they may see.", m.Me)},
        "/sites": {"get": operation("listModeratorSites", "The sites the caller may see.", m.Sites)},
        "/queue": {"get": operation("listQueue", "One page of the queue (flagged, oldest first by default), with "
                                    "the count per status.", m.QueuePage, query=m.QueueQuery, fails=(422,))},
        "/comments/{comment_id}": {"get": operation(
            "getModeratedComment", "A comment with its highlighted words, scores, reasons, thread and author.",
            m.ModeratorComment, path=[comment], fails=(404,))},
        "/comments/{comment_id}/actions": {"post": operation(
            "actOnComment", "Approve, reject with a reason, mark spam, or ban the author.", m.OutcomeOut,
            body=m.ActionIn, path=[comment], fails=(400, 404, 415, 422))},
        "/actions": {"post": operation(
            "actOnSelection", "One action on a selection of comments, as one audited batch.", m.OutcomeOut,
            body=m.SelectionIn, fails=(400, 404, 415, 422))},
        "/rules/preview": {"post": operation(
            "previewRule", "Dry run of a bulk rule: how many comments it selects, and a sample. Changes nothing.",
            m.RulePreview, body=m.RulePreviewIn, fails=(400, 415, 422))},
        "/rules/apply": {"post": operation(
            "applyRule", "Apply an action to what a rule selects, as one audited batch, if the count is unchanged.",
            m.OutcomeOut, body=m.RuleApplyIn, fails=(400, 409, 415, 422))},
        "/audit": {"get": operation("listAuditEvents", "The audit log, newest first, filtered.", m.AuditPage,
                                    query=m.AuditQuery, fails=(422,))},
        "/overturns": {"get": operation("listOverturnRates", "How often moderators overturn the models, per site, "
                                        "check and model version.", m.OverturnRates)},
        "/comments/{comment_id}/reveal-email": {"post": operation(
            "revealEmail", "An author's full email address (admins only; audited).", m.RevealedEmail,
            path=[comment], fails=(403, 404))},
        "/tokens": {
            "get": operation("listTokens", "The caller's API tokens (never the secret).", m.Tokens),
            "post": operation("createToken", "A new API token for the caller, shown once.", m.TokenIssued, status=201,
                              body=m.TokenIn, body_required=False, fails=(400, 415, 422)),
        },
        "/tokens/{prefix}": {"delete": operation(
            "revokeToken", "Revoke one of the caller's own tokens.", m.TokenOut,
            path=[path_parameter("prefix", "The token's public prefix (the 12 hex digits after mt_).")], fails=(404,))},
        "/moderators": {
            "get": operation("listModerators", "Every moderator (admins only).", m.Moderators, fails=(403,)),
            "post": operation("createModerator", "Create a moderator (admins only; audited).", m.ModeratorOut,
                              status=201, body=m.ModeratorIn, fails=(400, 403, 415, 422)),
        },
        "/moderators/{username}": {"patch": operation(
            "changeModerator", "Change a moderator's role, sites, state or password (admins only; audited).",
            m.ModeratorOut, body=m.ModeratorChange, path=[path_parameter("username", "A moderator's username.")],
            fails=(400, 403, 404, 415, 422))},
        "/sites/{slug}/policy": {
            "get": operation("getSitePolicy", "A site's policy (admins only): the current version or, with "
                             "`version`, an earlier one; with the defaults a blank field stands for.",
                             m.SitePolicyOut, path=[site], query=m.PolicyQuery, fails=(403, 404, 422)),
            "put": operation("setSitePolicy", "Replace a site's policy (admins only): validated, stored as a new "
                             "version and audited; the same policy again changes nothing.", m.SitePolicyOut,
                             body=m.Policy, path=[site], fails=(400, 403, 404, 415, 422)),
        },
        "/sites/{slug}/policy/versions": {"get": operation(
            "listSitePolicyVersions", "Every version of a site's policy: who saved it, when, what it changed "
            "(admins only).", m.PolicyVersions, path=[site], fails=(403, 404))},
    }
    return {f"/api/v1/moderation{path}": item for path, item in routes.items()}


def operation(operation_id: str, summary: str, answer, *, status: int = 200, body=None, body_required: bool = True,
              query=None, path: list[dict] = (), fails: tuple[int, ...] = ()) -> dict:
    """A moderator API operation: tagged, authenticated by a moderator token, answering
    `answer` or one of the errors in `fails` (every one may also be 401 or 503)."""
    found = {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["moderation"],
        "security": [{"moderatorToken": []}],
        "parameters": [*path, *(query_parameters(query) if query else [])],
        "responses": {
            str(status): responds(answer, answer.__doc__ or summary),
            **errors(*sorted({401, 503, *fails}), text=MODERATION_ERRORS),
        },
    }
    if body is not None:
        found["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": ref(body)}}}
    return found


def path_parameter(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def query_parameters(model) -> list[dict]:
    """A model of query arguments as OpenAPI parameters: each optional, absent meaning null."""
    parameters = []
    for name, schema in model.model_json_schema(ref_template=REF)["properties"].items():
        schema = {key: value for key, value in schema.items() if key != "title"}
        schema.update(next((s for s in schema.pop("anyOf", []) if s.get("type") != "null"), {}))
        if "default" in schema and schema["default"] is None:
            del schema["default"]
        description = schema.pop("description", None)
        parameters.append({"name": name, "in": "query", "required": False, "schema": schema,
                           **({"description": description} if description else {})})
    return parameters


@bp.get("/api/v1/openapi.json")
def serve_document():
    return jsonify(build_document())
