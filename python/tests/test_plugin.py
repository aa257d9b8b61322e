"""The pytest plugin as users get it: loaded from the installed package's entry point, run in
inline pytest sessions (pytester) whose tests use its fixtures and markers."""
from bedrock_emulator import Emulator
from conftest import REFUNDS_SCENARIO

pytest_plugins = ["pytester"]

NOVA = "amazon.nova-micro-v1:0"


def test_the_fixtures_share_one_emulator_reset_between_tests(pytester):
    pytester.makepyfile("""
        NOVA = "amazon.nova-micro-v1:0"
        URLS = []

        def ask(client, text):
            return client.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": text}]}])

        def test_first(bedrock_emulator, bedrock_runtime):
            URLS.append(bedrock_emulator.endpoint_url)
            ask(bedrock_runtime, "one")
            assert len(bedrock_emulator.journal()) == 1

        def test_second_sees_a_fresh_journal(bedrock_emulator, bedrock_runtime, bedrock):
            URLS.append(bedrock_emulator.endpoint_url)
            assert bedrock_emulator.journal() == []
            ask(bedrock_runtime, "two")
            bedrock_emulator.verify({"lastUserMessage": "two"}, count=1)
            assert bedrock.list_foundation_models()["modelSummaries"]

        def test_one_process_for_the_session(bedrock_emulator):
            assert set(URLS) == {bedrock_emulator.endpoint_url}
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_scenario_marker_loads_files_for_one_test(pytester):
    pytester.makefile(".yaml", refunds=REFUNDS_SCENARIO)
    pytester.makepyfile("""
        import pytest
        NOVA = "amazon.nova-micro-v1:0"

        def text(client, t):
            r = client.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": t}]}])
            return r["output"]["message"]["content"][0]["text"]

        @pytest.mark.bedrock_scenario("refunds.yaml")
        def test_scripted(bedrock_runtime):
            assert text(bedrock_runtime, "my refund?") == "Refunds take 5 days."

        def test_unscripted_afterwards(bedrock_runtime):
            assert text(bedrock_runtime, "my refund?") != "Refunds take 5 days."
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_the_ini_flags_configure_the_session_emulator(pytester):
    pytester.makeini("[pytest]\nbedrock_emulator_args = --strict\n")
    pytester.makepyfile("""
        import pytest

        def test_strict(bedrock_runtime):
            with pytest.raises(bedrock_runtime.exceptions.ValidationException):
                bedrock_runtime.converse(modelId="amazon.nova-micro-v1:0",
                                         messages=[{"role": "user", "content": [{"text": "hi"}]}])
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


CASSETTE_TEST = """
    import pytest

    @pytest.mark.bedrock_cassette("greeting")
    def test_recorded(bedrock_runtime):
        r = bedrock_runtime.converse(modelId="amazon.nova-micro-v1:0",
                                     messages=[{"role": "user", "content": [{"text": "Hello cassette"}]}])
        print("ANSWER", r["output"]["message"]["content"][0]["text"])
"""


def test_the_cassette_marker_records_once_then_replays_without_the_upstream(pytester, monkeypatch):
    # The recorder signs upstream requests with the environment's credentials.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDRECORDER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "recorder-secret")
    pytester.makepyfile(test_cassettes=CASSETTE_TEST)
    with Emulator(seed=11) as upstream:
        recorded = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-s", "--bedrock-record-mode=once", f"--bedrock-upstream={upstream.endpoint_url}"
        )
        recorded.assert_outcomes(passed=1)
        assert len(upstream.journal(operation="Converse")) == 1
    folder = pytester.path / "cassettes" / "test_cassettes" / "greeting"
    assert [p.suffix for p in folder.iterdir()] == [".json"]
    answer = [l for l in recorded.outlines if l.startswith("ANSWER")]
    # Upstream gone: the default mode (none) replays the cassette.
    replayed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    replayed.assert_outcomes(passed=1)
    assert [l for l in replayed.outlines if l.startswith("ANSWER")] == answer


def test_a_cassette_test_without_its_recording_fails_in_the_default_mode(pytester):
    pytester.makepyfile(test_cassettes=CASSETTE_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    # Refused by the emulator (nothing recorded to replay), not by anything else.
    result.stdout.fnmatch_lines(["*ValidationException*"])


def test_rules_and_faults_a_test_adds_do_not_outlive_it(pytester):
    pytester.makepyfile("""
        import pytest
        NOVA = "amazon.nova-micro-v1:0"

        def ask(client):
            return client.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": "hi"}]}])

        def test_adds_and_fails(bedrock_emulator, bedrock_runtime):
            bedrock_emulator.mount({"name": "scripted", "reply": {"text": "scripted"}})
            bedrock_emulator.add_fault({"name": "throttle", "inject": {"error": {"type": "ThrottlingException"}}})
            assert False, "fails before cleaning up"

        def test_next_sees_neither(bedrock_runtime):
            reply = ask(bedrock_runtime)
            assert reply["output"]["message"]["content"][0]["text"] != "scripted"
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, failed=1)
