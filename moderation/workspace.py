"""The moderator workspace, /moderate: log in, work the queue, read the audit log."""
from flask import Blueprint

bp = Blueprint("workspace", __name__, url_prefix="/moderate")
