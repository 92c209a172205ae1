"""The moderator JSON API, /api/v1/moderation: the workspace's operations for moderator tokens."""
from flask import Blueprint

bp = Blueprint("moderator_api", __name__, url_prefix="/api/v1/moderation")
