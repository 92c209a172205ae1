"""A small Perspective API client, written against Google's public protocol only, the way
Coral Talk's is (server/src/core/server/services/perspective/perspective.ts): the endpoint
URL the admin pasted plus "/comments:analyze" or "/comments:suggestscore", the key in the
query string, a JSON body, a client timeout, and Coral's request bodies. It knows nothing of
Saring: tests/test_perspective.py points it at Saring to prove that such a client works
unchanged.

    client = PerspectiveClient("https://saring.example/perspective/v1alpha1", key)
    score = client.analyze("You are a fucking idiot")     # attributeScores.TOXICITY.summaryScore.value
    client.suggest_score("You are a fucking idiot", comment_id="c-1", story_url=..., tenant_url=..., approved=False)
"""
import json
import posixpath
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_ENDPOINT = "https://commentanalyzer.googleapis.com/v1alpha1"
DEFAULT_TIMEOUT = 0.3  # seconds: Coral's TALK_PERSPECTIVE_TIMEOUT default (300 ms)


class PerspectiveFailed(Exception):
    """An answer other than 200: its HTTP status and Google's error object."""

    def __init__(self, status: int, error: dict):
        super().__init__(f"{status}: {error.get('message', '')}")
        self.status, self.error = status, error


class PerspectiveClient:
    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, key: str = "", timeout: float = DEFAULT_TIMEOUT,
                 language: str = "en"):
        self.endpoint, self.key, self.timeout, self.language = endpoint.strip(), key.strip(), timeout, language

    def url(self, operation: str) -> str:
        """The endpoint's path joined with the operation (as Node's path.join), the key as ?key=."""
        parts = urllib.parse.urlsplit(self.endpoint)
        path = posixpath.normpath(posixpath.join(parts.path or "/", operation))
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, urllib.parse.urlencode({"key": self.key}),
                                        ""))

    def send(self, operation: str, body: dict) -> dict:
        request = urllib.request.Request(self.url(operation), data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            answer = json.loads(error.read() or b"{}")
            raise PerspectiveFailed(error.code, answer.get("error", {})) from None

    def analyze(self, text: str, model: str = "TOXICITY", do_not_store: bool = True) -> float:
        """The model's summary score for the text, as Coral reads it."""
        answer = self.send("comments:analyze", {
            "comment": {"text": text},
            "doNotStore": do_not_store,
            "requestedAttributes": {model: {}},
            "languages": [self.language],
        })
        return answer["attributeScores"][model]["summaryScore"]["value"]

    def suggest_score(self, text: str, comment_id: str, story_url: str, tenant_url: str, approved: bool,
                      model: str = "TOXICITY", parent_id: str | None = None) -> dict:
        """A moderator's verdict on a comment: 0 when approved, 1 when rejected."""
        context = {"url": f"{story_url}?commentID={urllib.parse.quote(comment_id)}",
                   "reply_to_id_Coral_comment_id": parent_id, "Coral_comment_id": comment_id}
        return self.send("comments:suggestscore", {
            "comment": {"text": text},
            "context": {"entries": [{"text": json.dumps({k: v for k, v in context.items() if v is not None})}]},
            "attributeScores": {model: {"summaryScore": {"value": 0 if approved else 1}}},
            "languages": [self.language],
            "communityId": f"Coral:{tenant_url}",
            "clientToken": f"comment:{comment_id}",
        })
