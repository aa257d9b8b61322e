"""Running out of file descriptors: the listener backs off instead of spinning a core, and
serves boto3 again as soon as descriptors free up. The emulator runs with a hard open-file
limit of 64 and is sent more connections than that."""

import resource
import socket
import time

import pytest

from conftest import RunningEmulator, make_client

FD_LIMIT = 64


def _low_fd_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / 100.0


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_NOFILE"), reason="needs POSIX resource limits")
def test_accept_backs_off_when_descriptors_run_out_and_recovers():
    emulator = RunningEmulator(preexec_fn=_low_fd_limit, capture_stderr=True)
    host, port = emulator.url.removeprefix("http://").split(":")
    sockets = []
    try:
        # Far more connections than descriptors: accept fails with EMFILE over and over.
        for _ in range(FD_LIMIT * 2):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"G")
            sockets.append(s)
        time.sleep(0.3)
        before = _cpu_seconds(emulator.proc.pid)
        time.sleep(2.0)
        spent = _cpu_seconds(emulator.proc.pid) - before
        # A listener spinning on EMFILE burns a whole core (2 s); backing off costs almost none.
        assert spent < 0.5, f"the emulator used {spent:.2f} s of CPU in 2 s while out of descriptors"
        for s in sockets:
            s.close()
        sockets.clear()
        runtime = make_client("bedrock-runtime", emulator.url)
        deadline = time.monotonic() + 15
        while True:
            try:
                out = runtime.converse(
                    modelId="anthropic.claude-3-haiku-20240307-v1:0",
                    messages=[{"role": "user", "content": [{"text": "back?"}]}],
                )
                break
            except Exception:  # noqa: BLE001 - the backlog may still be draining
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert out["output"]["message"]["role"] == "assistant"
        emulator.stderr.seek(0)
        log = emulator.stderr.read()
        assert "accept failed; backing off" in log, log[-2000:]
    finally:
        for s in sockets:
            s.close()
        emulator.stop()
