"""The served OpenAPI document describes every JSON route the app serves, and holds together."""
import re

import pytest

from moderation.perspective_requests import ATTRIBUTES

DOCUMENTED = ("/api/v1", "/widget/v1", "/perspective/v1alpha1")
PERSPECTIVE = "/perspective/v1alpha1"
UNDOCUMENTED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def served_operations(app) -> set[tuple[str, str]]:
    """(path template, method) of every JSON route, in OpenAPI's spelling: <path:x> is {x}."""
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED) or rule.endpoint == "openapi.serve_document":
            continue
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(template, method.lower()) for method in rule.methods - UNDOCUMENTED_METHODS}
    return found


def test_every_json_route_is_documented(app, document):
    served = served_operations(app)
    assert len(served) > 30 and ("/widget/v1/words", "get") in served
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert served - documented == set()
    assert documented - served == set()  # nothing documented that is not served


def test_path_parameters_match_their_templates(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, (method, path)
            assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")


def test_operations_are_unique_and_answer_errors_in_one_shape(document):
    """Saring's one error shape everywhere but on the Perspective-compatible routes, which
    answer Google's (and never 401: Perspective's clients expect 400 for a bad key)."""
    operations = [(path, operation) for path, item in document["paths"].items() for operation in item.values()]
    ids = [operation["operationId"] for _, operation in operations]
    assert len(ids) == len(set(ids))
    for path, operation in operations:
        schemes = {name for requirement in operation["security"] for name in requirement}
        assert schemes <= set(document["components"]["securitySchemes"])
        shape = "PerspectiveError" if path.startswith(PERSPECTIVE) else "Error"
        for status, answer in operation["responses"].items():
            if status >= "400":
                assert answer["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{shape}"}
        assert ("401" in operation["responses"]) == (bool(schemes) and shape == "Error"), operation["operationId"]
    submit = document["paths"]["/api/v1/comments"]["post"]
    assert {"400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(submit["responses"])
    assert "Retry-After" in submit["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in submit["parameters"])
    widget = document["paths"]["/widget/v1/sites/{site_slug}/comments"]["post"]
    assert widget["security"] == [{"publishableKey": []}]
    assert document["components"]["securitySchemes"]["publishableKey"]["name"] == "X-Saring-Key"
    withdraw = document["paths"]["/api/v1/comments/{comment_id}"]["delete"]
    assert "content" not in withdraw["responses"]["204"]


def test_the_perspective_routes_are_documented_as_perspective_clients_call_them(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["perspectiveKey"] == schemes["perspectiveKey"] | {"type": "apiKey", "in": "query", "name": "key"}
    schemas = document["components"]["schemas"]
    analyze = document["paths"][f"{PERSPECTIVE}/comments:analyze"]["post"]
    suggest = document["paths"][f"{PERSPECTIVE}/comments:suggestscore"]["post"]
    for operation, fails in ((analyze, {"400", "403", "413", "429", "503"}), (suggest, {"400", "403", "413", "503"})):
        assert operation["security"] == [{"perspectiveKey": []}, {"siteKey": []}]  # ?key=, or a Bearer header
        assert set(operation["responses"]) == {"200", *fails}
    assert "Retry-After" in analyze["responses"]["429"]["headers"]
    request = schemas["AnalyzeCommentRequest"]
    assert {"comment", "requestedAttributes"} == set(request["required"])
    assert set(request["properties"]) == {"comment", "requestedAttributes", "languages", "spanAnnotations",
                                          "doNotStore", "clientToken"}
    assert set(request["properties"]["requestedAttributes"]["properties"]) == set(ATTRIBUTES)
    scores = schemas["SuggestCommentScoreRequest"]["properties"]["attributeScores"]
    assert set(scores["properties"]) == set(ATTRIBUTES) and scores["additionalProperties"] is False
    answer = schemas["AnalyzeCommentResponse"]["properties"]
    assert answer["attributeScores"]["propertyNames"] == {"enum": list(ATTRIBUTES)}
    error = schemas["PerspectiveError"]["properties"]["error"]
    assert error["required"] == ["code", "message", "status"]
    assert {"INVALID_ARGUMENT", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "UNAVAILABLE"} <= set(
        error["properties"]["status"]["enum"])


def test_every_reference_resolves(document):
    references = list(find_references(document))
    assert len(references) > 50
    for reference in references:
        assert reference.startswith("#/"), reference
        target = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, reference
            target = target[part]


def find_references(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from find_references(value)
    elif isinstance(node, list):
        for value in node:
            yield from find_references(value)


def test_document_is_valid_openapi_3_1(document):
    from openapi_spec_validator import validate

    validate(document)  # raises, naming the first place the document breaks OpenAPI 3.1
