"""Faults with a recovery path that works from any state (issue 13).

A damaged Chroma database or registry, a missing index folder, an ingest killed with SIGKILL, a
Chroma server that goes away and comes back, one bad file in a folder: each is repaired or
reported in one line, and nothing the user had is deleted to do it.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest
from chromadb.api.shared_system_client import SharedSystemClient
from click.testing import CliRunner
from conftest import REPO
from fakes import CountingEmbeddings
from test_chroma_server import free_port, start_server, stop_server
from test_cli import ASSISTANT, assert_one_line_error, cli_env, run
from test_documents import make_pdf

from assistant.api import Assistant
from assistant.cli import main
from assistant.config import Settings
from assistant.documents import Document, load_path
from assistant.embeddings import get_embeddings
from assistant.errors import DocumentError, IndexStoreError
from assistant.index import Index

CATS = "Cat Care\n\nCats sleep for sixteen hours every day. Kittens open their eyes after one week.\n"
DOGS = "Dog Care\n\nDogs were domesticated from wolves. They bark at strangers.\n"
BIRDS = "Bird Care\n\nParrots can live for eighty years. Many birds migrate south in winter.\n"


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder


def as_new_process() -> None:
    """Forget chromadb's per-process cache of open stores, as a fresh process would start."""
    SharedSystemClient.clear_system_cache()


def open_index(index_dir: Path) -> Index:
    """The index as the CLI opens it (hashing model, so the same model id as `cli_env`)."""
    as_new_process()
    settings = Settings.load(index_dir=index_dir, embedding_model="hashing")
    return Index(settings, get_embeddings("hashing"))


def assert_matches_registry(index: Index) -> None:
    """Stored vectors are exactly the registered documents' span ids: no extra, none missing."""
    for col, kind in ((index.chunk_col, "chunks"), (index.sentence_col, "sentences")):
        got = col.get(include=["metadatas"])
        assert len(got["ids"]) == len(set(got["ids"])), f"duplicate {kind}"
        expected = {s.id for d in index.documents for s in getattr(index.spans(d.id), kind)}
        assert set(got["ids"]) == expected, f"{kind}: {len(set(got['ids']) - expected)} extra, " \
                                            f"{len(expected - set(got['ids']))} missing"
        assert {m["doc_id"] for m in got["metadatas"]} <= {d.id for d in index.documents}


def garble(db: Path) -> None:
    data = bytearray(db.read_bytes())
    data[:16] = b"garbage garbage!"
    db.write_bytes(bytes(data))


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# -- a garbled Chroma database -----------------------------------------------------------
def test_garbled_chroma_db_is_moved_aside_by_ask_and_by_ingest_rebuild(tmp_path):
    folder = write(tmp_path / "docs", cats=CATS, dogs=DOGS)
    env = cli_env(tmp_path / "home")
    index_dir = tmp_path / "home" / "index"
    assert run(["ingest", str(folder)], env).returncode == 0
    db = index_dir / "chroma" / "chroma.sqlite3"
    garble(db)

    proc = run(["ask", "How many hours do cats sleep every day?"], env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    moved, resynced = notes(proc.stderr)
    assert moved.startswith(f"the Chroma database at {index_dir / 'chroma'} was unreadable (")
    assert "file is not a database" in moved
    assert f"moved it to {index_dir}/chroma.broken-" in moved and moved.endswith("started a new one")
    assert resynced.startswith("re-embedded 2 registered document(s)")
    assert "sixteen hours" in proc.stdout  # answered from the registry, re-embedded
    broken = sorted(index_dir.glob("chroma.broken-*"))
    assert len(broken) == 1 and (broken[0] / "chroma.sqlite3").read_bytes()[:16] == b"garbage garbage!"

    garble(db)
    proc = run(["ingest", "--rebuild", str(folder)], env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(notes(proc.stderr)) == 1 and "was unreadable" in proc.stderr
    assert proc.stdout.startswith("2 document(s): ")
    assert len(list(index_dir.glob("chroma.broken-*"))) == 2  # both damaged copies kept
    index = open_index(index_dir)
    assert [d.id for d in index.documents] == ["cats", "dogs"]
    assert_matches_registry(index)


def test_a_store_error_that_is_not_corruption_is_one_clear_line(tmp_path):
    # A Chroma folder that is a file: not "corrupt", so nothing is moved; the user is told.
    index_dir = tmp_path / "idx"
    index_dir.mkdir()
    (index_dir / "chroma").write_text("not a folder", encoding="utf-8")
    as_new_process()
    with pytest.raises(IndexStoreError) as exc:
        Index(Settings.load(index_dir=index_dir), CountingEmbeddings())
    assert f"the Chroma database at {index_dir / 'chroma'} failed while opening" in str(exc.value)
    assert "move it aside: the next command rebuilds it from the registry" in str(exc.value)
    assert (index_dir / "chroma").read_text(encoding="utf-8") == "not a folder"


# -- a truncated or garbage registry -----------------------------------------------------
def test_truncated_registry_ingest_rebuild_works(tmp_path):
    folder = write(tmp_path / "docs", cats=CATS, dogs=DOGS)
    env = cli_env(tmp_path / "home")
    registry = tmp_path / "home" / "index" / "documents.json"
    assert run(["ingest", str(folder)], env).returncode == 0
    registry.write_bytes(registry.read_bytes()[:40])

    proc = run(["ingest", "--rebuild", str(folder)], env)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"the registry {registry} was damaged (" in proc.stderr
    assert proc.stdout.startswith("2 document(s): ")
    index = open_index(registry.parent)
    assert [d.id for d in index.documents] == ["cats", "dogs"]
    assert_matches_registry(index)


def test_truncated_registry_open_keeps_what_is_readable(tmp_path):
    emb = CountingEmbeddings()
    docs = [Document(n, t) for n, t in (("cats", CATS), ("dogs", DOGS), ("birds", BIRDS))]
    Assistant.from_documents(docs, index_dir=tmp_path / "idx", embeddings=emb)
    registry = tmp_path / "idx" / "documents.json"
    whole = registry.read_text(encoding="utf-8")
    registry.write_text(whole[: whole.index('"birds"') + 20], encoding="utf-8")  # cut inside birds

    as_new_process()
    bot = Assistant.open(index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    assert [d.id for d in bot.documents] == ["cats", "dogs"]
    damaged, dropped = bot.index.recovered
    assert damaged.startswith(f"the registry {registry} was damaged (")
    assert "kept the 2 document(s) still readable in it (cats, dogs)" in damaged
    assert "documents.json.broken-" in damaged
    assert "(birds)" in dropped and "ingest those files again" in dropped
    assert_matches_registry(bot.index)
    assert [p.read_text(encoding="utf-8") for p in registry.parent.glob("documents.json.broken-*")] \
        == [whole[: whole.index('"birds"') + 20]]
    assert "sixteen hours" in bot.ask("How many hours do cats sleep?").text


def test_garbage_registry_open_says_it_ingested_the_corpus(tmp_path):
    Assistant.from_documents([Document("cats", CATS)], index_dir=tmp_path / "idx",
                             embeddings=CountingEmbeddings())
    (tmp_path / "idx" / "documents.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00 junk")
    as_new_process()
    bot = Assistant.open(index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    assert [d.id for d in bot.documents] == ["openai-google-cloud-tpus"]
    assert "no document in it could be read" in bot.index.recovered[0]
    assert bot.index.recovered[-1].startswith("the index held no readable document; ingested the corpus at ")
    assert_matches_registry(bot.index)


# -- a missing index folder --------------------------------------------------------------
def test_missing_chroma_folder_is_rebuilt_from_the_registry(tmp_path):
    import shutil

    Assistant.from_documents([Document("cats", CATS), Document("dogs", DOGS)], index_dir=tmp_path / "idx",
                             embeddings=CountingEmbeddings())
    as_new_process()
    shutil.rmtree(tmp_path / "idx" / "chroma")
    emb = CountingEmbeddings()
    bot = Assistant.open(index_dir=tmp_path / "idx", embeddings=emb)
    assert [d.id for d in bot.documents] == ["cats", "dogs"]
    assert emb.calls > 0
    assert bot.index.recovered == ["re-embedded 2 registered document(s) whose vectors were missing or "
                                   f"out of date ({len(emb.texts)} span(s))"]
    assert_matches_registry(bot.index)


def test_missing_index_folder_is_a_first_use(tmp_path):
    bot = Assistant.open(index_dir=tmp_path / "never-made", embeddings=CountingEmbeddings())
    assert [d.id for d in bot.documents] == ["openai-google-cloud-tpus"]
    assert bot.index.recovered == []  # nothing was damaged, so nothing to report
    assert_matches_registry(bot.index)


# -- kill -9 during an ingest ------------------------------------------------------------
def kill_when_stored(proc, index_dir, count: int, timeout: float) -> None:
    """SIGKILL a writing process once the store holds `count` vectors (it must still be running)."""
    try:
        deadline = time.monotonic() + timeout
        while stored_count(index_dir) < count:
            assert proc.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


def stored_count(index_dir: Path) -> int:
    """Vectors in the embedded store, read straight from SQLite (the writer is another process)."""
    db = index_dir / "chroma" / "chroma.sqlite3"
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)) as con:
            return con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    except sqlite3.Error:  # not created yet, or busy for a moment
        return 0


def write_corpus(folder: Path, n: int = 30, word: str = "fact") -> Path:
    """n documents of 40 sentences each; `word` is in every sentence, so changing it edits them all."""
    animals = ["cats", "dogs", "owls", "bees", "fish", "frogs"]
    for i in range(n):
        sents = [f"{animals[(i + j) % 6].capitalize()} note {word} {i}-{j} is about {animals[j % 6]}."
                 for j in range(40)]
        paras = [" ".join(sents[k : k + 4]) for k in range(0, 40, 4)]
        write(folder, **{f"doc{i:02d}": f"Document {i}\n\n" + "\n\n".join(paras) + "\n"})
    return folder


@pytest.mark.parametrize(("phase", "kill_at", "then"), [
    ("first ingest", 1, "ask"),      # inside the first document's first batch or just after
    ("first ingest", 700, "open"),   # about half the documents stored
    ("update", 700, "open"),         # every document edited, half the new versions stored
])
def test_kill_9_during_an_ingest_leaves_exactly_the_registered_vectors(tmp_path, phase, kill_at, then):
    folder = write_corpus(tmp_path / "docs")
    env = cli_env(tmp_path / "home")
    index_dir = tmp_path / "home" / "index"
    base = 0
    if phase == "update":
        assert run(["ingest", str(folder)], env).returncode == 0
        base = stored_count(index_dir)
        write_corpus(folder, word="item")
    proc = subprocess.Popen([str(ASSISTANT), "ingest", str(folder)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when_stored(proc, index_dir, base + kill_at, 60)
    assert proc.returncode == -signal.SIGKILL
    at_kill = stored_count(index_dir)
    assert base < at_kill < base + 1410  # really killed half-way (30 docs = 1410 spans)

    if then == "ask":
        asked = run(["ask", "What are TPUs optimized for?"], env)
        assert asked.returncode == 0, asked.stderr
        assert "removed" in asked.stderr and "not in the registry" in asked.stderr
    else:
        as_new_process()
        bot = Assistant.open(Settings.load(home=tmp_path / "home", embedding_model="hashing"))
        expected = "not in the registry" if phase == "first ingest" else "match no span of their registered"
        assert any(expected in n for n in bot.index.recovered), bot.index.recovered
    index = open_index(index_dir)
    if phase == "update":
        # The registry was written by the first ingest; it still describes what is stored.
        assert len(index.documents) == 30
    else:
        # The registry was never written: the default corpus was ingested on open, as on first use.
        assert [d.id for d in index.documents] == ["openai-google-cloud-tpus"]
    assert_matches_registry(index)

    # A second ingest of the same folder then completes cleanly on top of the repaired index.
    as_new_process()
    assert run(["ingest", str(folder)], env).returncode == 0
    index = open_index(index_dir)
    assert {f"doc{i:02d}" for i in range(30)} <= {d.id for d in index.documents}
    assert_matches_registry(index)


# -- a Chroma server that goes away and comes back ---------------------------------------
@pytest.mark.integration
def test_server_down_is_a_clear_error_and_the_same_assistant_reconnects(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "chroma-data"
    server = start_server(data, port)
    try:
        bot = Assistant.from_documents([Document("cats", CATS)], index_dir=tmp_path / "idx",
                                       chroma_url=url, embeddings=CountingEmbeddings(), collection="flaky")
        assert "sixteen hours" in bot.ask("How many hours do cats sleep?").text
        stop_server(server)
        # What is already in memory keeps answering (dense search is exact over the chunk vectors
        # read once); whatever must reach the store says so clearly.
        assert "sixteen hours" in bot.ask("How many hours do cats sleep?").text
        with pytest.raises(IndexStoreError) as exc:
            bot.ingest(documents=[Document("dogs", DOGS)])
        message = str(exc.value)
        assert message.startswith(f"lost the Chroma server at {url} while ")
        assert f"chroma run --path DIR --host 127.0.0.1 --port {port}" in message
        assert "ConnectError" in message and "try again" in message
        with pytest.raises(IndexStoreError, match=f"cannot reach the Chroma server at {url}"):
            Assistant.from_documents([Document("cats", CATS)], index_dir=tmp_path / "idx2",
                                     chroma_url=url, embeddings=CountingEmbeddings(), collection="flaky")
        server = start_server(data, port)
        answer = bot.ask("How many hours do cats sleep?")
        assert "sixteen hours" in answer.text and answer.citations
        bot.ingest(documents=[Document("dogs", DOGS)])
        assert "wolves" in bot.ask("What were dogs domesticated from?").text
    finally:
        stop_server(server)


# -- one bad file in a folder ------------------------------------------------------------
@pytest.fixture
def mixed(tmp_path) -> Path:
    folder = write(tmp_path / "mixed", cats=CATS, dogs=DOGS)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf at all")
    good = make_pdf(tmp_path / "whole.pdf", ["Cats sleep most of the day.", "They hunt at night."])
    (folder / "cut.pdf").write_bytes(good.read_bytes()[:200])
    (folder / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (folder / "empty.txt").write_text(" \n\n", encoding="utf-8")
    (folder / "junk.txt").write_bytes(b"\x00\x01\x02\x03binary\x00junk")
    return folder


def test_load_path_skips_and_reports_bad_files(mixed):
    skipped = []
    docs = load_path(mixed, skipped)
    assert [d.id for d in docs] == ["cats", "dogs"]
    lines = {s.path.name: str(s) for s in skipped}
    assert sorted(lines) == ["broken.pdf", "cut.pdf", "empty.txt", "junk.txt", "latin1.txt"]
    assert lines["broken.pdf"].startswith("broken.pdf: not a readable PDF (")
    assert lines["cut.pdf"].startswith("cut.pdf: not a readable PDF (")
    assert lines["empty.txt"] == "empty.txt: has no text to index"
    assert lines["junk.txt"] == "junk.txt: binary data, not text; pass the text itself"
    assert lines["latin1.txt"] == "latin1.txt: not UTF-8 text; convert it with iconv first"


def test_assistant_ingest_reports_the_skipped_files(mixed, tmp_path):
    bot = Assistant.from_documents([Document("birds", BIRDS)], index_dir=tmp_path / "idx",
                                   embeddings=CountingEmbeddings())
    report = bot.ingest([mixed])
    assert report.doc_ids == ["cats", "dogs"]
    assert sorted(s.path.name for s in report.skipped) == [
        "broken.pdf", "cut.pdf", "empty.txt", "junk.txt", "latin1.txt"]
    assert [d.id for d in bot.documents] == ["birds", "cats", "dogs"]


def test_ingest_a_folder_with_bad_files_prints_one_line_each(mixed, env_home):
    result = CliRunner().invoke(main, ["ingest", str(mixed)], env=env_home)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert sorted(line.split(":")[0] for line in lines) == [
        "skipped broken.pdf", "skipped cut.pdf", "skipped empty.txt", "skipped junk.txt", "skipped latin1.txt"]
    assert "skipped broken.pdf: not a readable PDF (" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout.startswith("2 document(s): ")
    assert result.stdout.rstrip().endswith("; 5 unreadable file(s) skipped")


def test_a_folder_of_only_bad_files_and_a_single_bad_file_are_errors(tmp_path, mixed, env_home):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("broken.pdf", "junk.txt"):
        (bad / name).write_bytes((mixed / name).read_bytes())
    result = CliRunner().invoke(main, ["ingest", str(bad)], env=env_home)
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, result.stdout, f"none of the 2 file(s) in {bad} could be read (")
    with pytest.raises(DocumentError, match="junk.txt is binary data"):
        load_path(mixed / "junk.txt")


# -- bad input never costs what is stored ------------------------------------------------
def test_a_rebuild_with_bad_input_fails_before_clearing(tmp_path, env_home):
    folder = write(tmp_path / "docs", cats=CATS)
    assert CliRunner().invoke(main, ["ingest", str(folder)], env=env_home).exit_code == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "junk.txt").write_bytes(b"\x00junk")
    for args in (["ingest", "--rebuild", "/nonexistent/file.txt"], ["ingest", "--rebuild", str(bad)]):
        result = CliRunner().invoke(main, args, env=env_home)
        assert result.exit_code == 1
        assert "Traceback" not in result.output
    index = open_index(Path(env_home["ASSISTANT_HOME"]) / "index")
    assert [d.id for d in index.documents] == ["cats"]
    assert_matches_registry(index)


@pytest.fixture
def env_home(tmp_path) -> dict[str, str]:
    return cli_env(tmp_path / "home")
