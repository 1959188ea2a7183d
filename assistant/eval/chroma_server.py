"""A local `chroma run` on 127.0.0.1, for the scale bench and the tests: started, awaited, stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# The console script installed beside this interpreter, so the server is the chromadb we import.
CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    """A port nothing listens on right now (127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def heartbeat(url: str) -> bool:
    """Whether a Chroma server answers its heartbeat at url."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def start(data: Path, port: int | None = None, log: Path | None = None,
          timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """`chroma run --path data` on 127.0.0.1:port (a free one if None); returns it and its URL once it answers."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = log or data.parent / f"chroma-{port}.log"
    with log.open("a") as out:  # the child keeps its own handle
        proc = subprocess.Popen([str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while not heartbeat(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"chroma run did not come up on {url} within {timeout:.0f} s "
                               f"(exit {proc.returncode}); its log {log}:\n{tail}")
        time.sleep(0.25)
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it lingers."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
