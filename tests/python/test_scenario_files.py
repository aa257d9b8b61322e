"""Loading scenarios: `--scenarios` files and directories (YAML and JSON), refusal of bad files
at startup, hot reload (good and bad), the admin API for adding and removing scenario sources,
POST /_emulator/reset, and the shipped examples against the published JSON Schema."""
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import ROOT, RunningEmulator, emulator_binary
from emulator_admin import (
    HAIKU,
    admin,
    admin_ok,
    client,
    entries,
    last_entry,
    listing,
    load_scenario,
    rule_labels,
    text_of,
    user,
    wait_until,
)

EXAMPLES = ROOT / "scenarios" / "examples"
SCHEMA = ROOT / "scenarios" / "scenario.schema.json"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@contextlib.contextmanager
def running(*args):
    emulator = RunningEmulator(*args)
    try:
        yield emulator
    finally:
        emulator.stop()


@contextlib.contextmanager
def watched(*args):
    with running(*args) as emulator:
        yield emulator


def catch_all(text, name="answer"):
    """YAML for one rule answering every Converse request with `text`."""
    return f"version: 1\nrules:\n  - name: {name}\n    match: {{operation: Converse}}\n    reply: {{text: {json.dumps(text)}}}\n"


def ask(url, text="hi"):
    return text_of(client("bedrock-runtime", url).converse(modelId=HAIKU, messages=[user(text)]))


def start_failure(*paths):
    """Runs `serve` with these scenario paths; returns the finished process (it must exit)."""
    args = [str(emulator_binary()), "serve", "--port", "0"]
    for p in paths:
        args += ["--scenarios", str(p)]
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def rewrite(path: Path, text: str):
    """Replaces a watched file atomically, as editors save: a half-written file would be read
    (and refused) by a poll that lands between the truncation and the write."""
    staging = path.with_name(path.name + ".tmp")  # not a scenario extension: never loaded
    staging.write_text(text)
    os.replace(staging, path)


def wait_for_label(url, suffix):
    return wait_until(lambda: any(label.endswith(suffix) for label in rule_labels(url)), timeout=10)


# ---------------------------------------------------------------------------------------------
# Files and directories.


def test_a_yaml_file_given_to_scenarios_answers_requests(tmp_path):
    path = tmp_path / "chat.yaml"
    path.write_text(catch_all("from a YAML file"))
    with running("--scenarios", str(path)) as emu:
        assert ask(emu.url) == "from a YAML file"
        assert last_entry(emu.url)["answeredBy"] == f"scenario:{path}/answer"


def test_a_json_file_given_to_scenarios_answers_requests(tmp_path):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps({"version": 1, "rules": [{"name": "j", "reply": {"text": "from a JSON file"}}]}))
    with running("--scenarios", str(path)) as emu:
        assert ask(emu.url) == "from a JSON file"


def test_a_yml_extension_is_read_as_yaml(tmp_path):
    (tmp_path / "short.yml").write_text(catch_all("from a .yml file"))
    with running("--scenarios", str(tmp_path)) as emu:
        assert ask(emu.url) == "from a .yml file"


def test_a_directory_loads_its_scenario_files_recursively_and_skips_other_files(tmp_path):
    (tmp_path / "a.yaml").write_text(catch_all("a", name="a"))
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "deeper" / "c.json").write_text(json.dumps({"version": 1, "rules": [{"name": "c", "reply": {"text": "c"}}]}))
    (tmp_path / "notes.txt").write_text("not a scenario")
    (tmp_path / "README.md").write_text("# not a scenario")
    (tmp_path / "scenario.schema.json").write_text(SCHEMA.read_text())
    with running("--scenarios", str(tmp_path)) as emu:
        sources = listing(emu.url)["sources"]
        assert sorted(Path(s["name"]).name for s in sources) == ["a.yaml", "c.json"]
        assert {s["origin"] for s in sources} == {"file"}


def test_files_in_a_directory_load_in_path_order(tmp_path):
    (tmp_path / "b.yaml").write_text(catch_all("b wins?", name="b"))
    (tmp_path / "a.yaml").write_text(catch_all("a wins", name="a"))
    with running("--scenarios", str(tmp_path)) as emu:
        assert ask(emu.url) == "a wins"


def test_repeated_scenarios_options_load_in_the_order_given(tmp_path):
    (tmp_path / "a.yaml").write_text(catch_all("a", name="a"))
    (tmp_path / "b.yaml").write_text(catch_all("b", name="b"))
    with running("--scenarios", str(tmp_path / "b.yaml"), "--scenarios", str(tmp_path / "a.yaml")) as emu:
        assert [Path(s["name"]).name for s in listing(emu.url)["sources"]] == ["b.yaml", "a.yaml"]
        assert ask(emu.url) == "b"


def test_a_files_name_field_labels_its_rules_instead_of_its_path(tmp_path):
    path = tmp_path / "support.yaml"
    path.write_text("version: 1\nname: support-bot\nrules:\n  - {name: hello, reply: {text: hi}}\n")
    with running("--scenarios", str(path)) as emu:
        ask(emu.url)
        assert last_entry(emu.url)["answeredBy"] == "scenario:support-bot/hello"
        assert [s["name"] for s in listing(emu.url)["sources"]] == ["support-bot"]


def test_a_file_without_a_name_field_is_labelled_by_its_path(tmp_path):
    path = tmp_path / "anonymous.yaml"
    path.write_text("version: 1\nrules:\n  - {reply: {text: hi}}\n")
    with running("--scenarios", str(path)) as emu:
        ask(emu.url)
        assert last_entry(emu.url)["answeredBy"] == f"scenario:{path}/rule-1"


def test_a_file_without_rules_loads_and_leaves_requests_to_the_synthetic_model(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("version: 1\nname: nothing-yet\n")
    with running("--scenarios", str(path)) as emu:
        ask(emu.url)
        assert last_entry(emu.url)["answeredBy"] == "synthetic"


def test_the_health_endpoint_counts_the_loaded_rules():
    with running("--scenarios", str(EXAMPLES)) as emu:
        health = admin_ok(emu.url, "GET", "health")
        assert health["status"] == "ok"
        assert health["scenarioRules"] == 7


# ---------------------------------------------------------------------------------------------
# Bad files at startup: exit status 2, file, line and reason on stderr.


def test_a_bad_yaml_file_at_startup_exits_2_naming_the_file_line_and_reason(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - match:\n      operation: Conversee\n    reply: {text: x}\n")
    done = start_failure(bad)
    assert done.returncode == 2
    assert "listening on" not in done.stdout
    assert "bedrock-emulator: invalid scenarios:" in done.stderr
    assert f"{bad}: line 4 column " in done.stderr
    assert "unknown operation `Conversee`" in done.stderr


def test_a_bad_json_file_at_startup_exits_2_naming_the_file_line_and_reason(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1,\n "rules": [{"reply": {"txt": "x"}}]}')
    done = start_failure(bad)
    assert done.returncode == 2
    assert f"{bad}: line 2 column " in done.stderr
    assert "unknown field `txt`" in done.stderr


def test_a_yaml_syntax_error_at_startup_is_located(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("version: 1\nrules:\n  - reply: {text: [unclosed\n")
    done = start_failure(bad)
    assert done.returncode == 2
    assert f"{bad}: line " in done.stderr


def test_an_unsupported_version_at_startup_says_which_version_this_build_reads(tmp_path):
    bad = tmp_path / "v2.yaml"
    bad.write_text("version: 2\nrules: []\n")
    done = start_failure(bad)
    assert done.returncode == 2
    assert "unsupported scenario version 2: this build reads version 1" in done.stderr


def test_every_bad_file_in_a_directory_is_reported_not_only_the_first(tmp_path):
    (tmp_path / "good.yaml").write_text(catch_all("fine"))
    (tmp_path / "one.yaml").write_text("version: 1\nrules:\n  - name: lonely\n")
    (tmp_path / "two.yaml").write_text("version: 1\nrules:\n  - reply: {error: {type: TooManyCooksException}}\n")
    done = start_failure(tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'one.yaml'}: line 3 column " in done.stderr
    assert "rule needs a `reply` or a `replies` list" in done.stderr
    assert f"{tmp_path / 'two.yaml'}: line 3 column " in done.stderr
    assert "unknown error type `TooManyCooksException`" in done.stderr
    assert "good.yaml" not in done.stderr


def test_a_missing_scenarios_path_at_startup_exits_2(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    done = start_failure(missing)
    assert done.returncode == 2
    assert f"{missing}: no such file or directory" in done.stderr


# ---------------------------------------------------------------------------------------------
# Hot reload.


def test_rewriting_a_watched_file_replaces_its_rules(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text(catch_all("before the edit", name="old"))
    with watched("--scenarios", str(tmp_path)) as emu:
        assert ask(emu.url) == "before the edit"
        rewrite(path, catch_all("after the edit, which is longer", name="new"))
        wait_for_label(emu.url, "/new")
        assert ask(emu.url) == "after the edit, which is longer"
        assert not any(label.endswith("/old") for label in rule_labels(emu.url))


def test_a_watched_single_file_is_reloaded_too(tmp_path):
    path = tmp_path / "single.yaml"
    path.write_text(catch_all("first", name="first"))
    with watched("--scenarios", str(path)) as emu:
        rewrite(path, catch_all("second version", name="second"))
        wait_for_label(emu.url, "/second")
        assert ask(emu.url) == "second version"


def test_a_file_added_to_a_watched_directory_is_loaded(tmp_path):
    with watched("--scenarios", str(tmp_path)) as emu:
        assert rule_labels(emu.url) == []
        rewrite(tmp_path / "new.yaml", catch_all("a new file", name="added"))
        wait_for_label(emu.url, "/added")
        assert ask(emu.url) == "a new file"


def test_a_file_removed_from_a_watched_directory_drops_its_rules(tmp_path):
    (tmp_path / "keep.yaml").write_text("version: 1\nrules:\n  - {name: keep, match: {lastUserMessage: keep}, reply: {text: kept}}\n")
    (tmp_path / "gone.yaml").write_text(catch_all("soon gone", name="gone"))
    with watched("--scenarios", str(tmp_path)) as emu:
        assert ask(emu.url) == "soon gone"
        (tmp_path / "gone.yaml").unlink()
        wait_until(lambda: not any(label.endswith("/gone") for label in rule_labels(emu.url)), timeout=10)
        assert ask(emu.url, "keep") == "kept"
        ask(emu.url, "anything")
        assert last_entry(emu.url)["answeredBy"] == "synthetic"


def test_a_bad_reload_keeps_the_previous_rules_and_lists_the_error(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text(catch_all("still the old reply", name="old"))
    with watched("--scenarios", str(tmp_path)) as emu:
        rewrite(path, "version: 1\nrules:\n  - name: broken\n    reply: {text: x, error: {type: ThrottlingException}}\n")
        (error,) = wait_until(
            lambda: [e for e in listing(emu.url)["errors"] if "reply mixes kinds" in e["message"]], timeout=10
        )
        assert error["file"] == str(path)
        assert error["line"] == 3 and error["column"] >= 1
        assert "reply mixes kinds" in error["message"]
        assert rule_labels(emu.url) == [f"{path}/old"]
        assert ask(emu.url) == "still the old reply"


def test_fixing_a_bad_reload_clears_the_error_and_loads_the_fix(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text(catch_all("original", name="old"))
    with watched("--scenarios", str(tmp_path)) as emu:
        rewrite(path, "version: 1\nrules: [\n")
        wait_until(lambda: listing(emu.url)["errors"], timeout=10)
        rewrite(path, catch_all("fixed and reloaded", name="fixed"))
        wait_for_label(emu.url, "/fixed")
        assert listing(emu.url)["errors"] == []
        assert ask(emu.url) == "fixed and reloaded"


def test_a_reload_keeps_rules_posted_through_the_admin_api(tmp_path):
    path = tmp_path / "live.yaml"
    path.write_text(catch_all("file rule", name="old"))
    with watched("--scenarios", str(tmp_path)) as emu:
        load_scenario(emu.url, "version: 1\nrules:\n  - {name: api-rule, match: {lastUserMessage: api}, reply: {text: from the api}}\n", name="mine")
        rewrite(path, catch_all("file rule, reloaded", name="new"))
        wait_for_label(emu.url, "/new")
        assert "mine/api-rule" in rule_labels(emu.url)
        assert ask(emu.url, "api please") == "file rule, reloaded"  # file rules come first
        admin_ok(emu.url, "DELETE", f"scenarios/{path}")
        assert ask(emu.url, "api please") == "from the api"


def test_no_watch_keeps_the_rules_read_at_startup(tmp_path):
    path = tmp_path / "frozen.yaml"
    path.write_text(catch_all("read at startup", name="old"))
    with running("--scenarios", str(tmp_path), "--no-watch") as emu:
        rewrite(path, catch_all("never read, because nothing watches", name="new"))
        time.sleep(1.6)  # more than three polling intervals of a watcher, were there one
        assert ask(emu.url) == "read at startup"


# ---------------------------------------------------------------------------------------------
# The admin API for scenario sources.


@pytest.fixture
def emu():
    with running() as emulator:
        yield emulator


def test_posting_a_yaml_document_adds_its_rules(emu):
    response = admin(emu.url, "POST", "scenarios", catch_all("posted YAML"), name="posted")
    assert response.status == 201
    assert response.json == {"name": "posted", "rules": 1, "faults": [], "quotas": 0}
    assert ask(emu.url) == "posted YAML"
    (source,) = listing(emu.url)["sources"]
    assert (source["name"], source["origin"]) == ("posted", "api")


def test_posting_a_json_document_adds_its_rules(emu):
    document = {"version": 1, "rules": [{"name": "j", "reply": {"text": "posted JSON"}}]}
    response = admin(emu.url, "POST", "scenarios", json.dumps(document), name="json-source")
    assert (response.status, response.json) == (201, {"name": "json-source", "rules": 1, "faults": [], "quotas": 0})
    assert ask(emu.url) == "posted JSON"
    assert last_entry(emu.url)["answeredBy"] == "scenario:json-source/j"


def test_a_posted_document_without_a_name_query_is_named_by_its_name_field(emu):
    response = admin(emu.url, "POST", "scenarios", "version: 1\nname: from-the-file\nrules:\n  - {reply: {text: x}}\n")
    assert response.json["name"] == "from-the-file"


def test_the_name_query_wins_over_the_documents_name_field(emu):
    response = admin(emu.url, "POST", "scenarios", "version: 1\nname: from-the-file\nrules: []\n", name="from-the-query")
    assert response.json["name"] == "from-the-query"


def test_a_posted_document_without_any_name_gets_a_generated_one(emu):
    response = admin(emu.url, "POST", "scenarios", catch_all("anonymous"))
    assert response.status == 201
    assert response.json["name"].startswith("api-")
    assert ask(emu.url) == "anonymous"


def test_posting_under_an_existing_name_replaces_that_source(emu):
    load_scenario(emu.url, catch_all("first version", name="v1"), name="same")
    load_scenario(emu.url, catch_all("second version", name="v2"), name="same")
    assert rule_labels(emu.url) == ["same/v2"]
    assert ask(emu.url) == "second version"


def test_unnamed_posts_never_replace_each_other(emu):
    def unnamed(word):
        return load_scenario(emu.url, f"version: 1\nrules:\n  - {{match: {{lastUserMessage: {word}}}, reply: {{text: {word}}}}}\n", name=None)

    first = unnamed("alpha")["name"]
    unnamed("beta")
    admin_ok(emu.url, "DELETE", f"scenarios/{first}")
    unnamed("gamma")
    assert ask(emu.url, "beta") == "beta"
    assert ask(emu.url, "gamma") == "gamma"


def test_deleting_a_source_by_name_removes_only_its_rules(emu):
    load_scenario(emu.url, "version: 1\nrules:\n  - {name: a, match: {lastUserMessage: a}, reply: {text: from a}}\n", name="a")
    load_scenario(emu.url, "version: 1\nrules:\n  - {name: b, match: {lastUserMessage: b}, reply: {text: from b}}\n", name="b")
    assert admin_ok(emu.url, "DELETE", "scenarios/a") == {"deleted": "a"}
    assert rule_labels(emu.url) == ["b/b"]
    assert ask(emu.url, "b") == "from b"


def test_deleting_a_source_whose_name_needs_percent_encoding(emu):
    load_scenario(emu.url, catch_all("spaced"), name="my scenarios")
    assert admin_ok(emu.url, "DELETE", "scenarios/my%20scenarios") == {"deleted": "my scenarios"}
    assert rule_labels(emu.url) == []


def test_deleting_an_unknown_source_is_a_404_resource_not_found(emu):
    response = admin(emu.url, "DELETE", "scenarios/never-loaded")
    assert response.status == 404
    assert response.headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")
    assert "never-loaded" in response.json["message"]


def test_deleting_all_scenarios_removes_file_and_api_rules(tmp_path):
    (tmp_path / "f.yaml").write_text(catch_all("file"))
    with running("--scenarios", str(tmp_path)) as emu:
        load_scenario(emu.url, catch_all("api"), name="api")
        assert admin_ok(emu.url, "DELETE", "scenarios") == {"deleted": "all"}
        assert listing(emu.url)["sources"] == []
        ask(emu.url)
        assert last_entry(emu.url)["answeredBy"] == "synthetic"


def test_a_bad_yaml_body_is_a_400_validation_exception_with_file_line_and_column(emu):
    response = admin(emu.url, "POST", "scenarios", "version: 1\nrules:\n  - reply: {txt: x}\n", name="typo")
    assert response.status == 400
    assert response.headers["x-amzn-ErrorType"].startswith("ValidationException")
    body = response.json
    assert (body["file"], body["line"], body["column"]) == ("typo", 3, 13)
    assert "unknown field `txt`" in body["message"]
    assert rule_labels(emu.url) == []


def test_a_bad_json_body_is_a_400_validation_exception_with_file_line_and_column(emu):
    response = admin(emu.url, "POST", "scenarios", '{"version": 1,\n"rules": [{"reply": {"text": "x"}, "then": "loop"}]}', name="bad-json")
    assert response.status == 400
    body = response.json
    assert (body["file"], body["line"]) == ("bad-json", 2)
    assert body["column"] >= 1
    assert "loop" in body["message"]


def test_a_body_that_is_not_utf8_is_a_400(emu):
    response = admin(emu.url, "POST", "scenarios", b"version: 1\nname: \xff\xfe\n")
    assert response.status == 400
    assert "UTF-8" in response.json["message"]


def test_an_unknown_admin_endpoint_is_a_404_listing_the_endpoints(emu):
    response = admin(emu.url, "GET", "nothing-here")
    assert response.status == 404
    assert "POST verify" in response.json["message"]


# ---------------------------------------------------------------------------------------------
# POST /_emulator/reset.

RESET_DOC = """version: 1
rules:
  - name: step
    scenario: flow
    whenState: Started
    setState: second
    replies: [{text: one}, {text: two}]
  - name: later
    scenario: flow
    whenState: second
    reply: {text: later}
"""


def test_reset_clears_counters_states_and_the_journal_but_keeps_the_rules(emu):
    load_scenario(emu.url, RESET_DOC, name="r")
    assert [ask(emu.url) for _ in range(2)] == ["one", "later"]
    before = listing(emu.url)
    assert before["states"] == {"flow": "second"}
    assert [r["answered"] for r in before["sources"][0]["rules"]] == [1, 1]
    assert admin_ok(emu.url, "POST", "reset") == {"reset": True}
    after = listing(emu.url)
    assert after["states"] == {}
    assert [(r["matched"], r["answered"]) for r in after["sources"][0]["rules"]] == [(0, 0), (0, 0)]
    assert entries(emu.url) == []
    assert rule_labels(emu.url) == ["r/step", "r/later"]
    assert ask(emu.url) == "one"


# ---------------------------------------------------------------------------------------------
# The JSON Schema.


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_there_are_example_files_to_validate():
    assert len(EXAMPLE_FILES) >= 4


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.name for p in EXAMPLE_FILES])
def test_every_example_file_validates_against_the_json_schema(validator, path):
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize(
    "document",
    [
        {"version": 2, "rules": []},
        {"rules": []},
        {"version": 1, "rules": [{"reply": {"text": "x"}, "mtach": {}}]},
        {"version": 1, "rules": [{"match": {"operation": "Conversee"}, "reply": {"text": "x"}}]},
        {"version": 1, "rules": [{"reply": {"error": {"type": "TooManyCooksException"}}}]},
        {"version": 1, "rules": [{"reply": {"text": "x"}, "then": "loop"}]},
    ],
    ids=["wrong-version", "no-version", "unknown-field", "unknown-operation", "unknown-error", "bad-then"],
)
def test_the_schema_refuses_documents_the_emulator_refuses(validator, emu, document):
    assert list(validator.iter_errors(document)), "the schema accepted it"
    assert admin(emu.url, "POST", "scenarios", json.dumps(document), name="probe").status == 400
