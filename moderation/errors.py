"""Few, precise exceptions, mapped to HTTP once and rendered in one JSON shape:
{"error": code, "message": text, "fields": {field: message}}.

The one exception: the Perspective-compatible routes (/perspective/...) answer in Google's
shape, {"error": {"code": http status, "message": text, "status": "INVALID_ARGUMENT", ...}},
which Perspective's clients read (`PerspectiveError`, `render_google_error`)."""
from flask import jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class MalformedBody(ApiError):
    status, code = 400, "malformed_body"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class CommentNotFound(NotFound):
    pass


class SiteNotFound(ApiError):
    status, code = 404, "site_not_found"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class InvalidFields(ApiError):
    status, code = 422, "invalid_fields"


class StorageUnavailable(ApiError):
    status, code = 503, "storage_unavailable"


STORAGE_RETRY_AFTER = 5  # seconds a client is asked to wait while the database is down


class IllegalTransition(ApiError):
    status, code = 409, "illegal_transition"


class SelectionChanged(ApiError):
    status, code = 409, "selection_changed"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class PerspectiveError(Exception):
    """An error of the Perspective-compatible API, in Google's shape; `error_type` is
    Perspective's own (COMMENT_EMPTY, COMMENT_TOO_LONG, LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE)."""

    def __init__(self, status: int, message: str, error_type: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.error_type, self.retry_after = status, message, error_type, retry_after


PERSPECTIVE_PREFIX = "/perspective/"
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 405: "UNIMPLEMENTED", 413: "INVALID_ARGUMENT", 415: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED",
                 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
PERSPECTIVE_DETAIL = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


def render_google_error(error: PerspectiveError):
    body = {"code": error.status, "message": error.message, "status": GOOGLE_STATUS.get(error.status, "UNKNOWN")}
    if error.error_type:
        body["details"] = [{"@type": PERSPECTIVE_DETAIL, "errorType": error.error_type}]
    response = jsonify(error=body)
    response.status_code = error.status
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def speaks_perspective() -> bool:
    return request.path.startswith(PERSPECTIVE_PREFIX)


def render_error(status: int, code: str, message: str, fields: dict | None = None):
    response = jsonify(error=code, message=message, fields=fields or {})
    response.status_code = status
    return response


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/widget/"))


def init_app(app) -> None:
    @app.errorhandler(ApiError)
    def handle_api_error(error: ApiError):
        response = render_error(error.status, error.code, error.message, error.fields)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(PerspectiveError)
    def handle_perspective_error(error: PerspectiveError):
        return render_google_error(error)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if speaks_perspective():  # routing's 404 and 405, a body over the limit, ...
            response = render_google_error(PerspectiveError(error.code or 500, error.description or error.name))
            response.headers.extend(pair for pair in error.get_headers() if pair[0] == "Allow")
            return response
        if not wants_json():
            return error
        code = (error.name or "error").lower().replace(" ", "_")
        response = render_error(error.code or 500, code, error.description or error.name)
        response.headers.extend(pair for pair in error.get_headers() if pair[0] != "Content-Type")  # 405's Allow
        return response

    @app.errorhandler(OperationalError)
    def handle_storage_down(error: OperationalError):
        app.logger.error("storage unavailable: %s", type(error.orig).__name__)
        message = "Storage is unavailable; nothing was saved. Retry later."
        retry = {"Retry-After": str(STORAGE_RETRY_AFTER)}
        if speaks_perspective():
            return render_google_error(PerspectiveError(503, message, retry_after=STORAGE_RETRY_AFTER))
        if wants_json():
            response = render_error(503, StorageUnavailable.code, message)
            response.headers.update(retry)
            return response
        return message, 503, retry
