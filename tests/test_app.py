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


def test_a_database_that_does_not_answer_is_a_503_asking_to_retry(redis_server):
    """Nothing is saved, the error has the one JSON shape, and Retry-After says when to try again."""
    from cryptography.fernet import Fernet

    from moderation import create_app
    from moderation.settings import Settings
    from moderation.sites import new_key

    app = create_app(Settings(secret_key="s", email_keys=(Fernet.generate_key().decode(),), fingerprint_key="f",
                              database_url="postgresql+psycopg://postgres@127.0.0.1:1/nowhere",
                              redis_url=redis_server.url, env="test"))
    response = app.test_client().post("/api/v1/comments", json={}, headers={"Authorization": f"Bearer {new_key()}"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json()["error"] == "storage_unavailable"
