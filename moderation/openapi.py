"""The OpenAPI document, built from the pydantic schemas and served at /api/v1/openapi.json."""
from flask import Blueprint, jsonify

from .schemas import CommentAccepted, CommentIn, CommentView, Error, ThreadPage

bp = Blueprint("openapi", __name__)
SCHEMAS = (CommentIn, CommentAccepted, CommentView, ThreadPage, Error)
REF = "#/components/schemas/{model}"


def ref(model) -> dict:
    return {"$ref": REF.format(model=model.__name__)}


def responds(model, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def errors(*statuses: int) -> dict:
    text = {
        400: "Malformed JSON body.",
        401: "Missing or invalid site API key.",
        404: "Unknown comment or site.",
        413: "Body too large.",
        415: "Not JSON.",
        422: "Field errors, one message per field.",
        503: "Storage unavailable; nothing was saved.",
    }
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
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"siteKey": {"type": "http", "scheme": "bearer", "description": "The site's API key."}},
        },
    }


@bp.get("/api/v1/openapi.json")
def serve_document():
    return jsonify(build_document())
