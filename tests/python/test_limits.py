"""Limits of the `/_emulator/` admin API and of the documents users hand the emulator: bodies and
query parameters of the wrong shape are refused with a 400 that says what was expected, user
documents (scenarios, fault rules, quota files, recordings to import) beyond their documented
size or nesting are refused fast with a located error, and listings come in pages
(emulator/src/server/admin.rs, emulator/src/server/paging.rs, emulator/src/scenario/document.rs,
emulator/src/scenario/yaml_depth.rs).

No test measures time: each proves a refusal (or an answer) for input that once took seconds."""
import base64
import json
import subprocess

import pytest

from conftest import RunningEmulator, emulator_binary
from emulator_admin import HAIKU, admin, client, fault_listing, journal, listing, load_scenario, user
from replay_helpers import run_import, serve_refusal

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


# --- user documents: nesting and size ------------------------------------------------------------

TOO_DEEP = "collections are nested more than 64 deep; bedrock-emulator reads documents nested at most 64 deep"


def nested_sequences(depth):
    return "[" * depth + "x" + "]" * depth


def nested_mappings(depth):
    return "{a: " * depth + "x" + "}" * depth


@pytest.mark.parametrize("nested", [nested_sequences, nested_mappings], ids=["sequences", "mappings"])
@pytest.mark.parametrize("endpoint", ["scenarios", "faults"])
def test_flow_collections_nested_thousands_deep_are_refused_where_they_pass_the_limit(endpoint_url, endpoint, nested):
    document = "version: 1\ndescription: " + nested(50_000) + "\n"
    response = admin(endpoint_url, "POST", endpoint, document, name=None)
    message = refused(response)
    assert TOO_DEEP in message
    assert response.json["line"] == 2
    width = 1 if nested is nested_sequences else len("{a: ")
    assert response.json["column"] == len("description: ") + 64 * width + 1


def test_brackets_inside_quoted_and_block_scalars_are_text_not_nesting(endpoint_url):
    text = "[" * 200
    document = (
        "version: 1\nrules:\n"
        f"  - {{match: {{lastUserMessage: '{text}'}}, reply: {{text: \"{text}\"}}}}\n"
        f"  - reply:\n      text: |\n        {text}\n"
    )
    assert admin(endpoint_url, "POST", "scenarios", document, name="brackets-as-text").status == 201
    admin(endpoint_url, "DELETE", "scenarios/brackets-as-text")


def test_json_nesting_counts_every_collection(endpoint_url):
    def doc(depth):
        body = "[" * depth + "]" * depth
        return '{"version": 1, "rules": [{"reply": {"json": ' + body + "}}]}"

    # The document's own mappings and list take four levels.
    assert admin(endpoint_url, "POST", "scenarios", doc(60), name="json-60").status == 201
    admin(endpoint_url, "DELETE", "scenarios/json-60")
    assert TOO_DEEP in refused(admin(endpoint_url, "POST", "scenarios", doc(61), name="json-61"))


def test_a_long_flow_sequence_within_the_size_limit_is_read(endpoint_url):
    items = ", ".join(["Converse"] * 100_000)
    document = f"version: 1\nrules:\n  - match: {{operation: [{items}]}}\n    reply: {{text: long}}\n"
    assert admin(endpoint_url, "POST", "scenarios", document, name="long-list").status == 201
    admin(endpoint_url, "DELETE", "scenarios/long-list")


def test_a_document_over_four_mebibytes_is_refused_by_its_size(endpoint_url):
    document = "version: 1\ndescription: " + "x" * (4 * 1024 * 1024) + "\n"
    message = refused(admin(endpoint_url, "POST", "scenarios", document, name="huge"))
    assert message.endswith(f"the document is {len(document)} bytes, more than the 4194304 bytes bedrock-emulator reads")


def test_a_scenario_file_nested_too_deep_stops_startup_with_its_location(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("version: 1\nrules:\n  - reply: {json: " + nested_sequences(10_000) + "}\n")
    done = subprocess.run([str(emulator_binary()), "serve", "--port", "0", "--scenarios", str(deep)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{deep}: line 3 column " in done.stderr and TOO_DEEP in done.stderr


def test_a_quota_file_nested_too_deep_is_refused_at_startup(tmp_path):
    deep = tmp_path / "quotas.yaml"
    deep.write_text("version: 1\nquotas: " + nested_sequences(10_000) + "\n")
    code, _, stderr = serve_refusal("--quotas", str(deep))
    assert code == 2, stderr
    assert TOO_DEEP in stderr


def test_a_fault_rule_flag_nested_too_deep_is_refused_at_startup():
    code, _, stderr = serve_refusal("--fault", "{name: x, inject: " + nested_mappings(10_000) + "}")
    assert code == 2, stderr
    assert TOO_DEEP in stderr


def test_importing_a_recording_nested_too_deep_is_refused_with_its_location(tmp_path):
    recording = tmp_path / "deep.yaml"
    recording.write_text("interactions:\n- request: " + nested_mappings(10_000) + "\n")
    result = run_import([recording], tmp_path / "out")
    assert result.returncode != 0
    assert f"{recording.name}: line 2 column " in result.stderr and TOO_DEEP in result.stderr


# --- paged listings ------------------------------------------------------------------------------


@pytest.fixture()
def fresh():
    """An emulator of the test's own: listings count everything loaded or recorded."""
    running = RunningEmulator()
    yield running.url
    running.stop()


def rules_document(count, body=None):
    reply = "{json: " + json.dumps(body) + "}" if body is not None else "{text: x}"
    rules = "".join(f"  - {{name: r{i}, match: {{operation: ListGuardrails}}, reply: {reply}}}\n" for i in range(count))
    return f"version: 1\nrules:\n{rules}"


def test_a_scenario_listing_past_a_page_carries_a_next_token_and_the_pages_hold_every_rule(fresh):
    load_scenario(fresh, rules_document(2500), name="many")
    first = admin(fresh, "GET", "scenarios").json
    assert sum(len(s["rules"]) for s in first["sources"]) == 1000
    assert first["nextToken"]
    pages = [admin(fresh, "GET", "scenarios", maxResults=700).json]
    while "nextToken" in pages[-1]:
        pages.append(admin(fresh, "GET", "scenarios", maxResults=700, nextToken=pages[-1]["nextToken"]).json)
    assert [sum(len(s["rules"]) for s in p["sources"]) for p in pages] == [700, 700, 700, 400]
    merged = listing(fresh)
    assert [r["label"] for r in merged["sources"][0]["rules"]] == [f"many/r{i}" for i in range(2500)]


def test_a_page_of_large_rules_ends_early_at_its_byte_budget(fresh):
    # Twenty rules of 900 KB each (in five documents, each under the 4 MiB limit): past the
    # 8 MiB a page holds.
    for k in range(5):
        load_scenario(fresh, rules_document(4, body={"blob": "x" * 900_000}), name=f"large-{k}")
    first = admin(fresh, "GET", "scenarios").json
    listed = sum(len(s["rules"]) for s in first["sources"])
    assert 1 <= listed < 20 and first["nextToken"]
    assert sum(len(s["rules"]) for s in listing(fresh)["sources"]) == 20


def test_the_journal_pages_by_request_and_follows_new_requests(fresh):
    rt = client("bedrock-runtime", fresh)
    for i in range(25):
        rt.converse(modelId=HAIKU, messages=[user(f"request {i}")])
    page = admin(fresh, "GET", "journal", maxResults=10).json
    assert [e["seq"] for e in page["entries"]] == list(range(1, 11))
    rest = admin(fresh, "GET", "journal", maxResults=10, nextToken=page["nextToken"]).json
    assert [e["seq"] for e in rest["entries"]] == list(range(11, 21))
    assert [e["lastUserText"] for e in journal(fresh)["entries"]] == [f"request {i}" for i in range(25)]
    newest = admin(fresh, "GET", "journal", limit=3, maxResults=2).json
    assert [e["seq"] for e in newest["entries"]] == [23, 24] and newest["nextToken"]


def test_the_fault_listing_pages_its_rules(fresh):
    for i in range(30):
        admin(fresh, "POST", "faults", {"name": f"f{i}", "match": {"operation": "ListGuardrails"},
                                        "inject": {"error": {"type": "ThrottlingException"}}})
    page = admin(fresh, "GET", "faults", maxResults=7).json
    assert [f["name"] for f in page["faults"]] == [f"f{i}" for i in range(7)] and page["nextToken"]
    assert "quotas" in page
    assert [f["name"] for f in fault_listing(fresh)["faults"]] == [f"f{i}" for i in range(30)]


@pytest.mark.parametrize("path", ["scenarios", "journal", "faults"])
def test_a_page_size_out_of_range_or_a_foreign_token_is_refused(endpoint_url, path):
    for bad in ["0", "1001", "ten"]:
        assert refused(admin(endpoint_url, "GET", path, maxResults=bad)) == (
            f"maxResults must be a whole number from 1 to 1000 (got {bad})."
        )
    other = "journal" if path != "journal" else "faults"
    foreign = base64.urlsafe_b64encode(f"{other}:1".encode()).decode().rstrip("=")
    assert refused(admin(endpoint_url, "GET", path, nextToken=foreign)) == (
        "The nextToken is not one this listing issued. Send the nextToken of its previous page."
    )


# --- other limits (hardening review) -------------------------------------------------------------


def test_a_model_glob_or_regex_past_its_length_is_refused(endpoint_url):
    glob = "*" + "a" * 300
    message = refused(admin(endpoint_url, "POST", "scenarios",
                            f"version: 1\nrules:\n  - {{match: {{model: '{glob}'}}, reply: {{text: x}}}}\n", name="glob"))
    assert "a model glob may have at most 256 characters (this one has 301)" in message
    regex = "a" * 1025
    message = refused(admin(endpoint_url, "POST", "scenarios",
                            f"version: 1\nrules:\n  - {{match: {{lastUserMessage: {{regex: '{regex}'}}}}, reply: {{text: x}}}}\n",
                            name="regex"))
    assert "a regex may have at most 1024 characters (this one has 1025)" in message
    assert refused(admin(endpoint_url, "GET", "journal", model=glob)).startswith(
        "The model query parameter: a model glob may have at most 256 characters"
    )


def test_a_quota_counts_every_arn_spelling_of_a_model_as_that_model(fresh):
    load_scenario(fresh, "version: 1\nquotas:\n  - {model: '*claude-3-haiku*', requestsPerMinute: 1}\n", name="quota")
    rt = client("bedrock-runtime", fresh)
    rt.converse(modelId=f"arn:aws:bedrock:us-east-1::foundation-model/{HAIKU}", messages=[user("one")])
    with pytest.raises(rt.exceptions.ThrottlingException):
        rt.converse(modelId=f"arn:aws:bedrock:us-west-2::foundation-model/{HAIKU}", messages=[user("two")])
    (quota,) = fault_listing(fresh)["quotas"]
    assert [b["modelId"] for b in quota["buckets"]] == [HAIKU]


def test_a_scenarios_folder_with_a_symlink_loop_loads_each_file_once(tmp_path):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "greet.yaml").write_text("version: 1\nrules:\n  - {name: hi, reply: {text: hello}}\n")
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    running = RunningEmulator("--scenarios", str(folder), "--no-watch")
    try:
        labels = [r["label"] for s in listing(running.url)["sources"] for r in s["rules"]]
        assert labels == [f"{folder / 'greet.yaml'}/hi"]
    finally:
        running.stop()


GUARDRAIL_PATTERN = "(|([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))"


def test_a_guardrail_identifier_outside_its_pattern_is_refused_before_it_is_looked_up(runtime):
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10,
                       "messages": [{"role": "user", "content": "hi"}]})
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.invoke_model(modelId=HAIKU, body=body, guardrailIdentifier="Not_A_Guardrail", guardrailVersion="1")
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'Not_A_Guardrail' at 'guardrailIdentifier' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {GUARDRAIL_PATTERN}"
    )
    with pytest.raises(runtime.exceptions.ValidationException) as e:
        runtime.converse(modelId=HAIKU, messages=[user("hi")],
                         guardrailConfig={"guardrailIdentifier": "Not_A_Guardrail", "guardrailVersion": "1"})
    assert e.value.response["Error"]["Message"] == (
        "1 validation error detected: Value 'Not_A_Guardrail' at 'guardrailConfig.guardrailIdentifier' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {GUARDRAIL_PATTERN}"
    )


def test_a_scenario_name_past_256_characters_is_refused(endpoint_url):
    long_name = "n" * 257
    message = refused(admin(endpoint_url, "POST", "scenarios", "version: 1\n", name=long_name))
    assert message == "The name query parameter: a scenario name may have at most 256 characters (this one has 257)."
    response = admin(endpoint_url, "POST", "scenarios", f"version: 1\nname: {long_name}\n", name=None)
    assert "a scenario name may have at most 256 characters" in refused(response)
