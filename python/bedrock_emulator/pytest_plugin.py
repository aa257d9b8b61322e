"""The pytest plugin (entry point `pytest11`, loaded once the package is installed).

Fixtures:

* `bedrock_emulator` — an `Emulator`: one process for the whole session, reset before each
  test (journal, counters, scenario states, created resources) and, after it, rid of the
  scenario rules and fault rules the test added through the API (`mount`, `add_fault`,
  markers), so tests do not see each other. A test marked `bedrock_cassette` gets a process of
  its own instead (see below).
* `bedrock_runtime`, `bedrock` — boto3 clients pointed at it.

Markers:

* `@pytest.mark.bedrock_scenario("scenarios/refunds.yaml", ...)` — loads scenario files
  (relative to the test file) for the test, removed after it.
* `@pytest.mark.bedrock_cassette("name")` — answers from recorded cassettes in
  `<test dir>/cassettes/<module>/<name>/` (default name: the test's), in the mode of
  `--bedrock-record-mode`: `none` (the default: replay only, an unrecorded request fails),
  `once` (record if the folder is empty, else replay), `new_episodes` (replay what matches,
  record the rest) or `all` (record everything). Recording goes to live Bedrock with the
  environment's AWS credentials, or to `--bedrock-upstream URL`.

Options: `--bedrock-record-mode`, `--bedrock-cassette-dir` (instead of `<test dir>/cassettes`),
`--bedrock-upstream`, and the ini key `bedrock_emulator_args` (extra `serve` flags for the
session's emulator, e.g. `--seed 7 --strict`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from . import Emulator

RECORD_MODES = ("none", "once", "new_episodes", "all")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bedrock-emulator")
    group.addoption(
        "--bedrock-record-mode",
        choices=RECORD_MODES,
        default="none",
        help="how tests marked bedrock_cassette use their cassettes (default: none, replay only)",
    )
    group.addoption(
        "--bedrock-cassette-dir",
        default=None,
        help="the folder of cassettes (default: a `cassettes` folder next to each test file)",
    )
    group.addoption(
        "--bedrock-upstream",
        default=None,
        help="record from this endpoint instead of live Bedrock (another emulator, a VPC endpoint)",
    )
    parser.addini("bedrock_emulator_args", type="args", default=[], help="extra `bedrock-emulator serve` flags")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bedrock_scenario(*files): load these scenario files (relative to the test file) for the test"
    )
    config.addinivalue_line(
        "markers", "bedrock_cassette(name=None): replay (and, per --bedrock-record-mode, record) these cassettes"
    )


@pytest.fixture(scope="session")
def bedrock_emulator_session(pytestconfig: pytest.Config) -> Iterator[Emulator]:
    """The session's emulator process (use `bedrock_emulator`, which resets it per test)."""
    with Emulator(args=pytestconfig.getini("bedrock_emulator_args")) as emulator:
        yield emulator


def _cassette_dir(request: pytest.FixtureRequest, name: str) -> Path:
    option = request.config.getoption("--bedrock-cassette-dir")
    base = Path(option) if option else Path(request.node.path).parent / "cassettes"
    module = Path(request.node.path).stem
    return base / module / name


def _scenario_files(request: pytest.FixtureRequest) -> list[Path]:
    here = Path(request.node.path).parent
    files = []
    for marker in request.node.iter_markers("bedrock_scenario"):
        for arg in marker.args:
            path = Path(arg)
            files.append(path if path.is_absolute() else here / path)
    return files


@pytest.fixture
def bedrock_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """An emulator for this test: the session's, reset; or, for a `bedrock_cassette` test, one
    of its own recording into or replaying from the test's cassette folder."""
    cassette = request.node.get_closest_marker("bedrock_cassette")
    if cassette is not None:
        name = cassette.args[0] if cassette.args else cassette.kwargs.get("name", request.node.name)
        folder = _cassette_dir(request, str(name))
        folder.mkdir(parents=True, exist_ok=True)
        mode = request.config.getoption("--bedrock-record-mode")
        emulator = Emulator(
            record=folder,
            record_mode=mode,
            upstream=request.config.getoption("--bedrock-upstream"),
            args=request.config.getini("bedrock_emulator_args"),
        )
        with emulator:
            _mount_scenarios(emulator, request)
            yield emulator
        return
    emulator = request.getfixturevalue("bedrock_emulator_session")
    emulator.reset()
    try:
        _mount_scenarios(emulator, request)
        yield emulator
    finally:
        emulator.clear_api_rules()


def _mount_scenarios(emulator: Emulator, request: pytest.FixtureRequest) -> None:
    for i, path in enumerate(_scenario_files(request)):
        emulator.mount(path, name=f"pytest-{i}-{path.name}")


@pytest.fixture
def bedrock_runtime(bedrock_emulator: Emulator) -> Any:
    """A boto3 `bedrock-runtime` client pointed at `bedrock_emulator`."""
    return bedrock_emulator.client("bedrock-runtime")


@pytest.fixture
def bedrock(bedrock_emulator: Emulator) -> Any:
    """A boto3 `bedrock` (control plane) client pointed at `bedrock_emulator`."""
    return bedrock_emulator.client("bedrock")
