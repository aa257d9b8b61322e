"""A local Amazon Bedrock for offline tests.

`Emulator` starts the `bedrock-emulator` binary (the one this package installs, or
`$BEDROCK_EMULATOR_BIN`) on a free loopback port, waits until it answers, and stops it on exit::

    with Emulator(seed=7) as emu:
        runtime = emu.client("bedrock-runtime")
        runtime.converse(modelId="amazon.nova-micro-v1:0",
                         messages=[{"role": "user", "content": [{"text": "Hello"}]}])
        emu.verify({"operation": "Converse"}, count=1)

Between, its admin API is at hand: `mount` scenario rules, `add_fault`, read the `journal`,
`verify` what was called, `reset`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

__all__ = ["Emulator", "EmulatorError", "VerificationError", "find_binary"]

#: Credentials the clients of `Emulator.client` sign with (the emulator accepts any by default).
ACCESS_KEY_ID = "AKIDBEDROCKEMULATOR"
SECRET_ACCESS_KEY = "bedrock-emulator-secret"

PathLike = Union[str, "os.PathLike[str]"]

# Admin calls go to loopback directly, whatever HTTP_PROXY says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    """The emulator could not start, or an admin call failed."""


class VerificationError(AssertionError):
    """`Emulator.verify` found fewer (or more) matching requests than expected."""

    def __init__(self, result: Mapping[str, Any]):
        self.result = dict(result)
        near = "; ".join(
            f"#{m.get('seq')} {m.get('operation')}: {', '.join(m.get('failures', []))}"
            for m in result.get("nearMisses", [])
        )
        super().__init__(
            f"expected {result.get('expected')} matching request(s), found {result.get('matched')}"
            + (f" (near misses: {near})" if near else "")
        )


def find_binary() -> str:
    """The `bedrock-emulator` executable: `$BEDROCK_EMULATOR_BIN`, else the one this package's
    wheel installed next to the interpreter, else the first on PATH."""
    explicit = os.environ.get("BEDROCK_EMULATOR_BIN")
    if explicit:
        return explicit
    name = "bedrock-emulator.exe" if sys.platform == "win32" else "bedrock-emulator"
    for scheme_dir in {sysconfig.get_path("scripts"), str(Path(sys.executable).parent)}:
        candidate = Path(scheme_dir) / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise EmulatorError(
        "bedrock-emulator is not installed: `pip install bedrock-emulator`, or set BEDROCK_EMULATOR_BIN"
    )


class Emulator:
    """One emulator process. Every argument is optional.

    * `scenarios`: scenario files or folders (`--scenarios`), loaded at start and reloaded when
      they change.
    * `faults`: fault rules (dicts, or YAML/JSON text), each a `--fault`.
    * `seed`: the synthetic model's seed (replies are reproducible per seed).
    * `record`: a cassette folder to record into through live Bedrock (`--record`), with
      `record_mode` (`once`, `new_episodes`, `all`, `none`) and `upstream` (another endpoint
      than Bedrock's, for tests).
    * `replay`: a cassette folder to answer from (`--replay`).
    * `strict`: refuse inference requests nothing scripted or recorded answers.
    * `args`: any other `bedrock-emulator serve` flags.
    * `region`: the region `client()` signs for.
    """

    def __init__(
        self,
        *,
        scenarios: Iterable[PathLike] = (),
        faults: Iterable[Union[Mapping[str, Any], str]] = (),
        seed: Optional[int] = None,
        record: Optional[PathLike] = None,
        record_mode: Optional[str] = None,
        upstream: Optional[str] = None,
        replay: Optional[PathLike] = None,
        strict: bool = False,
        args: Sequence[str] = (),
        binary: Optional[str] = None,
        region: str = "us-east-1",
        startup_timeout: float = 30.0,
    ):
        flags: list[str] = []
        for path in scenarios:
            flags += ["--scenarios", os.fspath(path)]
        for fault in faults:
            flags += ["--fault", fault if isinstance(fault, str) else json.dumps(fault)]
        if seed is not None:
            flags += ["--seed", str(seed)]
        if record is not None:
            flags += ["--record", os.fspath(record)]
            if record_mode:
                flags += ["--record-mode", record_mode]
            if upstream:
                flags += ["--upstream", upstream]
        elif record_mode or upstream:
            raise ValueError("record_mode and upstream go with record=DIR")
        if replay is not None:
            flags += ["--replay", os.fspath(replay)]
        if strict:
            flags.append("--strict")
        self._flags = flags + list(args)
        self._binary = binary
        self._startup_timeout = startup_timeout
        self.region = region
        self._process: Optional[subprocess.Popen[str]] = None
        self._stderr: list[str] = []
        self._endpoint: Optional[str] = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "Emulator":
        """Starts the process on a free port and waits until it answers its health check."""
        if self._process is not None:
            return self
        command = [self._binary or find_binary(), "serve", "--port", "0", *self._flags]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
        except OSError as e:
            raise EmulatorError(f"cannot run {command[0]}: {e}") from e
        self._process = process
        # The first stdout line names the address; stderr is kept (its last lines) for error
        # messages. Both pipes are drained for the process's life, so it never blocks on them.
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(process,), daemon=True)
        self._stderr_reader.start()
        line = self._first_line(process)
        if not line.startswith("listening on "):
            self._abandon(process)
            raise EmulatorError(f"bedrock-emulator did not start ({self._exit_text(process)}):\n{self._stderr_text()}")
        self._endpoint = line.split("listening on ", 1)[1].strip()
        threading.Thread(target=self._drain_stdout, args=(process,), daemon=True).start()
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                self._admin("GET", "health")
                return self
            except EmulatorError:
                if process.poll() is not None or time.monotonic() > deadline:
                    self._abandon(process)
                    raise EmulatorError(
                        f"bedrock-emulator did not answer its health check ({self._exit_text(process)}):\n"
                        f"{self._stderr_text()}"
                    ) from None
                time.sleep(0.05)

    def _abandon(self, process: "subprocess.Popen[str]") -> None:
        """Ends a process that failed to start, and forgets it."""
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None
        self._endpoint = None

    @staticmethod
    def _exit_text(process: "subprocess.Popen[str]") -> str:
        code = process.poll()
        return "still running" if code is None else f"exit code {code}"

    def _stderr_text(self) -> str:
        # The reader ends once the process has exited and the pipe is empty.
        reader = getattr(self, "_stderr_reader", None)
        if reader is not None:
            reader.join(timeout=2)
        return "".join(self._stderr).strip()

    @staticmethod
    def _drain_stdout(process: "subprocess.Popen[str]") -> None:
        if process.stdout is not None:
            for _ in process.stdout:
                pass

    def _first_line(self, process: "subprocess.Popen[str]") -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(process.stdout.readline() if process.stdout else ""))
        reader.daemon = True
        reader.start()
        reader.join(self._startup_timeout)
        if not result:
            self._abandon(process)
            raise EmulatorError(f"bedrock-emulator did not start within {self._startup_timeout} s")
        return result[0]

    def _drain_stderr(self, process: "subprocess.Popen[str]") -> None:
        if process.stderr is None:
            return
        for line in process.stderr:
            self._stderr.append(line)
            del self._stderr[:-200]

    def stop(self) -> None:
        """Stops the process (gracefully: requests in flight finish)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """`http://127.0.0.1:PORT`: the `endpoint_url` (or `AWS_ENDPOINT_URL`) for clients."""
        if self._endpoint is None:
            raise EmulatorError("the emulator is not running: use `with Emulator() as emu:` or call start()")
        return self._endpoint

    # -- clients ----------------------------------------------------------------------------

    def client(self, service: str = "bedrock-runtime", **kwargs: Any) -> Any:
        """A boto3 client for `service` (`bedrock-runtime` or `bedrock`) pointed at the emulator,
        signing with dummy credentials in `region`. Keyword arguments go to `boto3.client`."""
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise EmulatorError("Emulator.client needs boto3: pip install bedrock-emulator[boto3]") from e
        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": ACCESS_KEY_ID,
            "aws_secret_access_key": SECRET_ACCESS_KEY,
        }
        options.update(kwargs)
        return boto3.session.Session().client(service, **options)

    # -- admin API --------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        url = f"{self.endpoint_url}/_emulator/{path}"
        query = {k: v for k, v in query.items() if v is not None}
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        if body is not None:
            data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        try:
            with _OPENER.open(request, timeout=30) as response:
                text = response.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            detail = e.read().decode("utf-8", "replace")
            raise EmulatorError(f"{method} /_emulator/{path}: {e.code} {detail}") from None
        except (urllib.error.URLError, OSError) as e:
            raise EmulatorError(f"{method} /_emulator/{path}: {e}") from None
        return json.loads(text) if text else None

    def _pages(self, path: str, **query: Any) -> list[Any]:
        pages, token = [], None
        while True:
            page = self._admin("GET", path, nextToken=token, **query)
            pages.append(page)
            token = page.get("nextToken")
            if not token:
                return pages

    def mount(self, scenario: Union[Mapping[str, Any], str, PathLike], name: Optional[str] = None) -> dict:
        """Loads scenario rules: one rule (a dict with `reply` or `replies`), a whole scenario
        document (a dict with `rules`, or YAML/JSON text), or a scenario file. A source of the
        same `name` is replaced."""
        if isinstance(scenario, Mapping):
            document: Any = dict(scenario) if "rules" in scenario else {"version": 1, "rules": [dict(scenario)]}
        elif isinstance(scenario, str) and ("\n" in scenario or scenario.lstrip().startswith("{")):
            document = scenario
        else:
            document = Path(scenario).read_text(encoding="utf-8")
        return self._admin("POST", "scenarios", document, name=name)

    def unmount(self, name: Optional[str] = None) -> None:
        """Removes one scenario source by name, or all of them."""
        self._admin("DELETE", f"scenarios/{urllib.parse.quote(name, safe='')}" if name else "scenarios")

    def add_fault(self, rule: Union[Mapping[str, Any], str]) -> dict:
        """Adds a fault rule (replacing one of the same name)."""
        return self._admin("POST", "faults", rule if isinstance(rule, str) else dict(rule))

    def clear_faults(self) -> None:
        """Removes every fault rule."""
        self._admin("DELETE", "faults")

    def journal(self, operation: Optional[str] = None, model: Optional[str] = None) -> list[dict]:
        """Every journaled request, oldest first (all pages), optionally by operation or model glob."""
        return [e for page in self._pages("journal", operation=operation, model=model) for e in page["entries"]]

    def verify(self, match: Mapping[str, Any], count: Union[int, Mapping[str, int], None] = None) -> dict:
        """Checks the journal: at least one request (or exactly `count`, or `{"atLeast"|"atMost"|
        "equals": N}`) matched `match` (scenario matcher syntax). Raises `VerificationError`
        otherwise; returns the verification."""
        body: dict[str, Any] = {"match": dict(match)}
        if count is not None:
            body["count"] = count if isinstance(count, Mapping) else {"equals": count}
        result = self._admin("POST", "verify", body)
        if not result.get("ok"):
            raise VerificationError(result)
        return result

    def clear_api_rules(self) -> None:
        """Removes every scenario source and fault rule added through the admin API (`mount`,
        `add_fault`); those from files and flags stay."""
        for page in self._pages("scenarios"):
            for source in page.get("sources", []):
                if source.get("origin") == "api":
                    self._admin("DELETE", f"scenarios/{urllib.parse.quote(source['name'], safe='')}")
        for page in self._pages("faults"):
            for fault in page.get("faults", []):
                if (fault.get("origin") or {}).get("kind") == "api":
                    self._admin("DELETE", f"faults/{urllib.parse.quote(fault['name'], safe='')}")

    def reset(self) -> None:
        """Clears the journal, counters, scenario states, quotas and created resources (rules stay)."""
        self._admin("POST", "reset")

    def health(self) -> dict:
        """The health document (version, uptime, request and rule counts)."""
        return self._admin("GET", "health")
