"""Limits of the `/_emulator/` admin API: bodies and query parameters of the wrong shape are
refused with a 400 that says what was expected (emulator/src/server/admin.rs).

No test measures time: each proves a refusal (or an answer)."""
import pytest

from emulator_admin import admin

VERIFY_SHAPE = '{"match": {…matcher…}, "count": N | {"equals"|"atLeast"|"atMost": N}}'


def refused(response):
    assert response.status == 400, response
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")
    return response.json["message"]


# --- bodies of the wrong shape -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, what",
    [(b"[]", "an array"), (b'"match"', "a string"), (b"5", "a number"), (b"null", "null")],
)
def test_verify_refuses_a_body_that_is_not_an_object(endpoint_url, body, what):
    message = refused(admin(endpoint_url, "POST", "verify", body))
    assert message == f"The verify request body must be a JSON object {VERIFY_SHAPE}, not {what}."


def test_verify_refuses_invalid_json_and_an_empty_body(endpoint_url):
    assert refused(admin(endpoint_url, "POST", "verify", b'{"match": ')).startswith(
        "The verify request body is not valid JSON ("
    )
    assert refused(admin(endpoint_url, "POST", "verify", b"")) == f"The verify request body is empty: send {VERIFY_SHAPE}."


@pytest.mark.parametrize(
    "body, expected",
    [
        ({"match": []}, "invalid type: sequence, expected a matcher: a mapping of conditions"),
        ({"count": []}, "invalid type: sequence, expected a count"),
        ({"count": -1}, "invalid type: integer `-1`, expected a count"),
        ({"count": {"atleast": 1}}, "unknown field `atleast`"),
    ],
)
def test_verify_refuses_members_of_the_wrong_shape(endpoint_url, body, expected):
    message = refused(admin(endpoint_url, "POST", "verify", body))
    assert message.startswith(f"The verify request must be {VERIFY_SHAPE}: ")
    assert expected in message


@pytest.mark.parametrize("endpoint", ["scenarios", "faults"])
@pytest.mark.parametrize("body", [b"[]", b"[1]", b'"text"', b"42"])
def test_a_document_that_is_not_a_mapping_is_refused_with_its_location(endpoint_url, endpoint, body):
    response = admin(endpoint_url, "POST", endpoint, body)
    message = refused(response)
    assert message.startswith("request body: line 1 column 1: invalid type: ")
    assert (response.json["line"], response.json["column"]) == (1, 1)


def test_a_sequence_where_the_format_has_a_mapping_is_refused_not_read_as_fields(endpoint_url):
    document = "version: 1\nrules:\n  - match: []\n    reply: {text: matched everything}\n"
    response = admin(endpoint_url, "POST", "scenarios", document, name="seq-matcher")
    message = refused(response)
    assert "rules[0].match: invalid type: sequence, expected a matcher" in message
    assert (response.json["line"], response.json["column"]) == (3, 12)


@pytest.mark.parametrize("endpoint", ["scenarios", "faults"])
def test_an_empty_document_body_is_refused(endpoint_url, endpoint):
    what = "scenario document" if endpoint == "scenarios" else "fault rule"
    assert refused(admin(endpoint_url, "POST", endpoint, b"  \n")) == (
        f"The request body is empty: send the {what} as YAML or JSON."
    )


@pytest.mark.parametrize(
    "method, path",
    [("POST", "reset"), ("DELETE", "journal"), ("DELETE", "faults"), ("DELETE", "scenarios"), ("GET", "health")],
)
def test_an_endpoint_that_takes_no_body_refuses_one(endpoint_url, method, path):
    assert refused(admin(endpoint_url, method, path, {"everything": True})) == (
        f"{method} /_emulator/{path} takes no request body."
    )


def test_an_empty_object_counts_as_no_body(endpoint_url):
    assert admin(endpoint_url, "POST", "reset", {}).status == 200


def test_an_unknown_query_parameter_is_refused_with_the_ones_the_endpoint_takes(endpoint_url):
    message = refused(admin(endpoint_url, "GET", "journal", limt=3))
    assert message.startswith("GET /_emulator/journal does not take the query parameter `limt`; it takes `operation`, ")
    assert refused(admin(endpoint_url, "POST", "reset", verbose=1)) == (
        "POST /_emulator/reset takes no query parameters (got `verbose`)."
    )
