"""The `Emulator` API of the installed package: it runs the wheel's own binary (not the source
tree's), and its admin calls work through real boto3 clients."""
import os
import sysconfig
from pathlib import Path

import pytest

import bedrock_emulator
from bedrock_emulator import Emulator, EmulatorError, VerificationError, find_binary
from conftest import REFUNDS_SCENARIO

NOVA = "amazon.nova-micro-v1:0"


def hello(runtime, text="Hello"):
    return runtime.converse(modelId=NOVA, messages=[{"role": "user", "content": [{"text": text}]}])


def test_the_package_is_installed_with_its_binary_next_to_the_interpreter():
    assert "site-packages" in bedrock_emulator.__file__, "tests must run against the installed wheel"
    assert os.environ.get("BEDROCK_EMULATOR_BIN") is None
    binary = Path(find_binary())
    assert binary.parent == Path(sysconfig.get_path("scripts")) and os.access(binary, os.X_OK)


def test_an_emulator_answers_clients_journals_and_verifies():
    with Emulator(seed=7) as emu:
        assert emu.endpoint_url.startswith("http://127.0.0.1:")
        first = hello(emu.client())
        assert first["stopReason"] == "end_turn"
        assert emu.health()["status"] == "ok"
        (entry,) = emu.journal(operation="Converse")
        assert entry["modelId"] == NOVA and entry["lastUserText"] == "Hello"
        emu.verify({"operation": "Converse", "lastUserMessage": "Hello"}, count=1)
        with pytest.raises(VerificationError) as e:
            emu.verify({"operation": "Converse", "lastUserMessage": "Goodbye"})
        assert "expected" in str(e.value) and e.value.result["matched"] == 0
        emu.reset()
        assert emu.journal() == []
    # The same seed, the same reply, from a new process.
    with Emulator(seed=7) as again:
        assert hello(again.client())["output"] == first["output"]


def test_mounted_rules_and_faults_answer():
    with Emulator() as emu:
        emu.mount({"name": "greeting", "match": {"operation": "Converse"}, "reply": {"text": "Scripted hi"}})
        assert hello(emu.client())["output"]["message"]["content"] == [{"text": "Scripted hi"}]
        emu.unmount()
        emu.add_fault({"name": "throttle", "match": {"operation": "Converse"},
                       "inject": {"error": {"type": "ThrottlingException"}}})
        client = emu.client(config=__import__("botocore.config").config.Config(retries={"total_max_attempts": 1}))
        with pytest.raises(client.exceptions.ThrottlingException):
            hello(client)
        emu.clear_faults()
        assert hello(client)["stopReason"] == "end_turn"


def test_scenario_files_and_control_plane_clients(tmp_path):
    scenario = tmp_path / "refunds.yaml"
    scenario.write_text(REFUNDS_SCENARIO)
    with Emulator(scenarios=[scenario]) as emu:
        reply = hello(emu.client(), "Where is my refund?")
        assert reply["output"]["message"]["content"] == [{"text": "Refunds take 5 days."}]
        models = emu.client("bedrock").list_foundation_models(byProvider="Amazon")["modelSummaries"]
        assert any(m["modelId"] == NOVA for m in models)


def test_a_bad_flag_fails_start_with_the_emulators_message():
    with pytest.raises(EmulatorError) as e:
        Emulator(args=["--no-such-flag"]).start()
    assert "--no-such-flag" in str(e.value)
    with pytest.raises(EmulatorError):
        Emulator().endpoint_url
