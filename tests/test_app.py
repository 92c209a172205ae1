"""The app factory: nothing connects at import time, and the web never loads scikit-learn."""
import subprocess
import sys

PROBE = """
import sys
from cryptography.fernet import Fernet
from moderation import create_app
from moderation.settings import Settings
app = create_app(Settings(secret_key="s", email_keys=(Fernet.generate_key().decode(),), fingerprint_key="f",
                          database_url="sqlite:///:memory:", redis_url="redis://127.0.0.1:1/0"))
app.test_client().get("/api/v1/openapi.json")
print(sorted(name for name in sys.modules if name.split(".")[0] in {"sklearn", "scipy", "skops", "models", "workers"}))
"""


def test_web_process_never_imports_scikit_learn_or_the_workers():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
