"""Shared fixtures: one emulator process per test session, and boto3 clients pointed at it.

The emulator binary is taken from $BEDROCK_EMULATOR_BIN, else target/debug/bedrock-emulator
(the test command builds it first). It is started with `serve --port 0` and the URL is read
from its first stdout line, exactly as a user would.
"""
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def emulator_binary() -> Path:
    explicit = os.environ.get("BEDROCK_EMULATOR_BIN")
    path = Path(explicit) if explicit else ROOT / "target" / "debug" / "bedrock-emulator"
    if not path.exists():
        pytest.exit(f"emulator binary not found at {path}; build it with `cargo build -p bedrock-emulator`", 2)
    return path


class RunningEmulator:
    """`bedrock-emulator serve --port 0 ARGS`, URL read from its first stdout line. `env`
    replaces the environment it inherits; with `capture_stderr` its stderr goes to a file whose
    head is quoted if it does not start."""

    def __init__(self, *args: str, env: dict | None = None, capture_stderr: bool = False, preexec_fn=None):
        self.args = args
        self.stderr = tempfile.TemporaryFile(mode="w+") if capture_stderr else sys.stderr
        self.proc = subprocess.Popen(
            [str(emulator_binary()), "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=env,
            preexec_fn=preexec_fn,
        )
        line = self.proc.stdout.readline().strip() if self.proc.stdout else ""
        if not line.startswith("listening on "):
            self.stop()
            if not capture_stderr:
                raise RuntimeError(f"emulator did not start: first line was {line!r}")
            self.stderr.seek(0)
            head = "\n".join(self.stderr.read().splitlines()[:12])
            raise RuntimeError(
                f"emulator ({' '.join(args)}) did not start (exit {self.proc.returncode}): "
                f"first line was {line!r}; stderr:\n{head}"
            )
        self.url = line.removeprefix("listening on ")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def emulator():
    running = RunningEmulator()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def server():
    """An emulator of the test module's own (for tests that create resources), stopped after
    the module's last test. A module that needs flags defines its own `server`."""
    running = RunningEmulator()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def endpoint_url(emulator) -> str:
    return emulator.url


def make_client(service: str, endpoint_url: str):
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEMULATOR",
        aws_secret_access_key="emulator-secret",
        # One attempt: errors are deterministic and a retry would hide what a test asserts.
        # (botocore's `max_attempts` counts retries; `total_max_attempts` counts attempts.)
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="session")
def runtime(endpoint_url):
    return make_client("bedrock-runtime", endpoint_url)


@pytest.fixture(scope="session")
def control(endpoint_url):
    return make_client("bedrock", endpoint_url)


@pytest.fixture(scope="session")
def real_traffic() -> Path:
    """The recorded real-Bedrock sessions in ../shared/real-traffic, or a skip when absent."""
    path = SHARED / "real-traffic"
    if not path.is_dir():
        pytest.skip(f"real-traffic recordings not found at {path} (they live in the project's shared/ folder)")
    return path
