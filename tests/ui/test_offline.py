"""The form starts, serves and exits without trying to reach anything but 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, time
    attempts = []
    _connect = socket.socket.connect

    def connect(self, address):  # record every outbound connection attempt of the process
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in ("127.0.0.1", "::1", "localhost"):
            attempts.append(str(address))
            raise OSError("network disabled in this test")
        return _connect(self, address)

    socket.socket.connect = connect
    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kw):
        if host not in ("127.0.0.1", "::1", "localhost", None):
            attempts.append(f"dns:{host}")
            raise socket.gaierror("network disabled in this test")
        return _getaddrinfo(host, *args, **kw)

    socket.getaddrinfo = getaddrinfo

    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from ui_support import demo_store, running, trace_spec
    from hitl_pipeline.ui.client import FormClient

    work = Path(sys.argv[2])
    spec = trace_spec("offline", size=2)
    with running(spec, demo_store(work / "local.db"), work / "home", reviewer="off") as (handle, _):
        with FormClient(handle.url, spec) as form:
            assert form.load().item_key
    print(json.dumps(attempts))
    """
)


@pytest.mark.slow
def test_serving_makes_no_outbound_connection_and_exits(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY")
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(Path(__file__).parent), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    attempts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert attempts == []
    assert time.monotonic() - started < 60  # and it exits promptly (no telemetry thread left waiting)
