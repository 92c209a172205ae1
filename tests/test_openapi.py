"""The served OpenAPI document describes every JSON route the app serves, and holds together."""
import re

import pytest

DOCUMENTED = ("/api/v1", "/widget/v1")
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
    operations = [operation for item in document["paths"].values() for operation in item.values()]
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids))
    for operation in operations:
        schemes = {name for requirement in operation["security"] for name in requirement}
        assert schemes <= set(document["components"]["securitySchemes"])
        for status, answer in operation["responses"].items():
            if status >= "400":
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert ("401" in operation["responses"]) == bool(schemes), operation["operationId"]
    submit = document["paths"]["/api/v1/comments"]["post"]
    assert {"400", "401", "403", "409", "413", "415", "422", "429", "503"} <= set(submit["responses"])
    assert "Retry-After" in submit["responses"]["429"]["headers"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in submit["parameters"])
    widget = document["paths"]["/widget/v1/sites/{site_slug}/comments"]["post"]
    assert widget["security"] == [{"publishableKey": []}]
    assert document["components"]["securitySchemes"]["publishableKey"]["name"] == "X-Saring-Key"
    withdraw = document["paths"]["/api/v1/comments/{comment_id}"]["delete"]
    assert "content" not in withdraw["responses"]["204"]


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
