"""A Chroma server that accepts connections and never answers: every call gives up after
ASSISTANT_CHROMA_TIMEOUT with a clear message, and the UI keeps answering meanwhile."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest
from conftest import ARTICLE_PATH
from fakes import CountingEmbeddings
from test_chroma_server import chroma_url  # noqa: F401, F811  (the real-server fixture)

from assistant.config import Settings
from assistant.errors import IndexStoreError
from assistant.index import Index

TIMEOUT = 2  # seconds: ASSISTANT_CHROMA_TIMEOUT for these tests
SLACK = 6  # seconds on top of it a loaded 2-core machine may need


class Silent:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte.

    With `upstream` it is a proxy instead, until `hang()`: from then on, nothing more is passed
    on in either direction, on old connections or new ones (a server that froze mid-run).
    """

    def __init__(self, upstream: tuple[str, int] | None = None) -> None:
        self.upstream = upstream
        self.hanging = upstream is None
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.sockets: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        self.hanging = True

    def resume(self) -> None:
        self.hanging = False

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.sockets.append(conn)
            if self.upstream is None:
                continue  # held open, never read, never answered
            up = socket.create_connection(self.upstream)
            self.sockets.append(up)
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.hanging:
                continue  # swallowed: the other side waits for ever
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        for s in [self.server, *self.sockets]:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@contextmanager
def silent(upstream: tuple[str, int] | None = None) -> Iterator[Silent]:
    server = Silent(upstream)
    try:
        yield server
    finally:
        server.close()
    with socket.socket() as s:  # stopped: nothing listens on its port any more
        assert s.connect_ex(("127.0.0.1", server.port)) != 0


def test_opening_an_index_on_a_silent_server_times_out_with_a_clear_message(tmp_path):
    with silent() as server:
        settings = Settings.load(index_dir=tmp_path / "idx", chroma_url=server.url, chroma_timeout=TIMEOUT)
        began = time.perf_counter()
        with pytest.raises(IndexStoreError) as exc:
            Index(settings, CountingEmbeddings())
        waited = time.perf_counter() - began
        assert server.accepted >= 1  # it was reached, and said nothing
    assert TIMEOUT - 0.5 <= waited <= TIMEOUT + SLACK, waited
    message = str(exc.value)
    assert message.startswith(f"the Chroma server at {server.url} did not answer within {TIMEOUT} s "
                              "while checking its heartbeat; check that it is running and not overloaded")
    assert "ASSISTANT_CHROMA_TIMEOUT" in message and "\n" not in message


def test_the_timeout_is_a_setting_with_a_checked_value(monkeypatch):
    assert Settings.load().chroma_timeout == 30
    monkeypatch.setenv("ASSISTANT_CHROMA_TIMEOUT", "5")
    assert Settings.load().chroma_timeout == 5
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="ASSISTANT_CHROMA_TIMEOUT must be at least 1 second, got 0"):
        Settings.load(chroma_timeout=0)


@pytest.mark.integration
def test_a_server_that_hangs_mid_run_times_out_and_the_ui_keeps_answering(tmp_path, chroma_url):  # noqa: F811
    """A real Chroma server behind a proxy that freezes: an upload fails after the timeout with
    the message on the page, the chats in flight are answered meanwhile, and once the server
    answers again the same assistant uploads without a restart."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file
    from test_ui_integration import ask
    from ui_fakes import ARTICLE_SCRIPT, scripted_assistant, serving

    from assistant.documents import load_file

    port = int(chroma_url.rsplit(":", 1)[1])
    article = load_file(ARTICLE_PATH)
    dogs = tmp_path / "dogs.txt"
    dogs.write_text("Dog Care\n\nDogs were domesticated from wolves. They bark at strangers.\n",
                    encoding="utf-8")
    with silent(("127.0.0.1", port)) as proxy:
        bot = scripted_assistant([article], tmp_path / "home", script=ARTICLE_SCRIPT,
                                 chroma_url=proxy.url, chroma_timeout=TIMEOUT, collection="hang")
        questions = ["What are TPUs, according to the article?", "Why are they efficient?"]
        with serving(bot) as url:
            client = Client(url, verbose=False)
            for q in questions:  # what a chat needs from the store is read once, then kept
                ask(client, q)
            proxy.hang()
            uploader = Client(url, verbose=False)
            began = time.perf_counter()
            job = uploader.submit([handle_file(str(dogs))], api_name="/add_documents")
            # While the upload waits on the frozen server, ten sessions are answered.
            with ThreadPoolExecutor(10) as pool:
                chats = list(pool.map(lambda i: ask(Client(url, verbose=False), questions[i % 2]),
                                      range(10)))
            chatted = time.perf_counter() - began
            status, *_ = job.result(timeout=TIMEOUT + SLACK + 30)
            waited = time.perf_counter() - began
            assert all(answer["citations"] for _, answer, _ in chats)
            assert chatted < waited or chatted < TIMEOUT, (chatted, waited)
            assert TIMEOUT - 0.5 <= waited <= TIMEOUT + SLACK, waited
            assert (f"dogs.txt: failed: the Chroma server at {proxy.url} did not answer within {TIMEOUT} s "
                    "while reading the stored vectors of &#x27;dogs&#x27;") in status
            assert [d.id for d in bot.documents] == [article.id]  # nothing half-added

            proxy.resume()
            status, library, *_ = uploader.predict([handle_file(str(dogs))], api_name="/add_documents")
            assert "dogs.txt: added as “Dog Care” (id dogs)" in status and 'data-doc="dogs"' in library
        print(f"\nhang timeout measured: {waited:.2f} s for ASSISTANT_CHROMA_TIMEOUT={TIMEOUT}; "
              f"10 chats answered in {chatted:.2f} s meanwhile")


