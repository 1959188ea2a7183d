"""The public API: construction, validation at the door, and cheap imports."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ARTICLE_PATH, isolated
from fakes import CountingEmbeddings, OtherEmbeddings

from assistant import Answer, ConfigError, Document, DocumentError, Passage, Settings
from assistant.answer import check_citations
from assistant.api import Assistant
from assistant.documents import load_file

CATS = Document("cats", "Cats\n\nCats sleep for sixteen hours every day. Cats hunt mice at dawn.\n",
                title="Cats")


@pytest.fixture
def bot(tmp_path, article) -> Assistant:
    return Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())


@pytest.fixture(scope="module")
def shared_bot(tmp_path_factory) -> Assistant:
    """One bot for the tests that only ask and retrieve (building one per test is slow)."""
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings())


def test_from_documents(bot, article, tmp_path):
    assert bot.documents == [article]
    assert bot.settings.index_dir == tmp_path / "idx"
    assert (tmp_path / "idx" / "documents.json").exists()
    assert bot.index.counts()["sentences"] == len(bot.index.spans(article.id).sentences)


def test_ask_returns_a_checked_answer(shared_bot):
    answer = shared_bot.ask("What are TPUs optimized for?")
    assert isinstance(answer, Answer)
    assert answer.question == "What are TPUs optimized for?"
    assert check_citations(answer, shared_bot.documents) == []
    assert len(answer.passages) == shared_bot.settings.k


def test_ask_strips_the_question(shared_bot):
    assert shared_bot.ask("   What are TPUs optimized for?  \n").question == "What are TPUs optimized for?"


@pytest.mark.parametrize("k", [1, 3, 7])
def test_retrieve_returns_k_passages(shared_bot, article, k):
    passages = shared_bot.retrieve("Google Cloud TPUs", k=k)
    assert len(passages) == k
    assert all(isinstance(p, Passage) and article.text[p.start : p.end] == p.text for p in passages)


def test_ask_k_controls_passages(shared_bot):
    assert len(shared_bot.ask("What are TPUs optimized for?", k=2).passages) == 2


def test_messages_style_history_is_not_silently_misread(shared_bot):
    history = [{"role": "user", "content": "Which TPU generations is OpenAI using?"},
               {"role": "assistant", "content": "v4 and v5e [1]"}]
    try:
        answer = shared_bot.ask("Why are they efficient?", history=history)
    except ConfigError:
        return  # rejecting it at the door is fine too
    assert "role" not in answer.query and "content" not in answer.query


def test_history_is_used_for_follow_ups(shared_bot):
    answer = shared_bot.ask("Why are they efficient?", history=[("Which TPU generations is OpenAI using?", "x")])
    assert answer.question == "Why are they efficient?"
    assert "generations" in answer.query


def test_stream_grows_to_the_answer_a_sentence_at_a_time(shared_bot):
    steps = list(shared_bot.stream("What advantages do TPUs have?"))
    *partials, (final_text, answer) = steps
    assert isinstance(answer, Answer) and final_text == answer.text
    assert all(a is None for _, a in partials)
    # One update per cited sentence (a few big steps: every update costs the UI server work).
    assert 1 <= len(partials) <= 4 and len(answer.citations) >= 3
    texts = [t for t, _ in partials]
    assert all(answer.text.startswith(t) and t.endswith("]") for t in texts)
    assert [len(t) for t in texts] == sorted(len(t) for t in texts)


def test_from_documents_needs_documents(tmp_path):
    with pytest.raises(DocumentError, match="at least one Document"):
        Assistant.from_documents([], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())


def test_from_documents_keeps_only_the_given_documents(tmp_path, article):
    idx = tmp_path / "idx"
    Assistant.from_documents([article, CATS], index_dir=idx, embeddings=CountingEmbeddings())
    bot = Assistant.from_documents([CATS], index_dir=idx, embeddings=CountingEmbeddings())
    assert [d.id for d in bot.documents] == ["cats"]
    assert bot.index.chunk_col.get(where={"doc_id": article.id}, include=[])["ids"] == []
    assert all(p.doc_id == "cats" for p in bot.retrieve("TPUs Google Cloud", k=3))


def test_from_documents_twice_embeds_nothing_new(tmp_path, article):
    Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    again = CountingEmbeddings()
    Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=again)
    assert again.calls == 0


def test_from_documents_overrides_reach_settings(tmp_path, article):
    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings(),
                                   k=2, chunk_size=200, chunk_overlap=20, collection="other")
    assert (bot.settings.k, bot.settings.chunk_size, bot.settings.collection) == (2, 200, "other")
    assert len(bot.ask("What are TPUs optimized for?").passages) == 2
    assert all(len(c.text) <= 200 for c in bot.index.all_chunks())
    assert bot.index.chunk_col.name == "other-chunks"


def test_unknown_answerer(tmp_path, article):
    with pytest.raises(ConfigError, match="unknown answerer 'oracle'"):
        Assistant.from_documents([article], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings(),
                                 answerer="oracle")


def test_unknown_embedding_model(tmp_path, article):
    with pytest.raises(ConfigError, match="neither 'minilm', 'hashing' nor a local model folder"):
        Assistant.from_documents([article], index_dir=tmp_path / "idx", embedding_model="bert-huge")


def test_hashing_model_by_name(tmp_path, article):
    from assistant.embeddings import HashingEmbeddings

    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx", embedding_model="hashing")
    assert isinstance(bot.index.embeddings, HashingEmbeddings)


def test_open_builds_the_default_corpus_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path / "home"))
    bot = Assistant.open(embeddings=CountingEmbeddings())
    assert [d.id for d in bot.documents] == ["openai-google-cloud-tpus"]
    assert bot.settings.index_dir == tmp_path / "home" / "index"
    again = CountingEmbeddings()
    Assistant.open(embeddings=again)
    assert again.calls == 0  # an existing index is opened, not rebuilt


def test_open_after_a_model_change_re_embeds(tmp_path):
    Assistant.open(embeddings=CountingEmbeddings())
    bot = Assistant.open(embeddings=OtherEmbeddings())
    doc_id = bot.documents[0].id
    assert bot.index.counts() == {"chunks": len(bot.index.spans(doc_id).chunks),
                                  "sentences": len(bot.index.spans(doc_id).sentences)}


def test_ingest(bot, tmp_path):
    (tmp_path / "cats.txt").write_text(CATS.text, encoding="utf-8")
    report = bot.ingest([tmp_path / "cats.txt"])
    assert report.doc_ids == ["cats"] and report.embedded > 0
    assert [d.id for d in bot.documents][-1] == "cats"
    with pytest.raises(DocumentError, match="nothing to ingest"):
        bot.ingest([])
    with pytest.raises(DocumentError, match="does not exist"):
        bot.ingest([tmp_path / "missing.txt"])
    assert len(bot.documents) == 2  # a failed ingest changed nothing


def test_ingest_rebuild(bot):
    report = bot.ingest(documents=[CATS], rebuild=True)
    assert [d.id for d in bot.documents] == ["cats"]
    assert report.reused == 0


# -- settings --------------------------------------------------------------------------
def test_settings_precedence(monkeypatch, tmp_path):
    assert Settings.load().k == 5
    monkeypatch.setenv("ASSISTANT_K", "3")
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", "hashing")
    assert Settings.load().k == 3
    assert Settings.load().embedding_model == "hashing"
    assert Settings.load(k=4).k == 4
    assert Settings.load(k=None).k == 3  # None means "not given"
    assert Settings.load().home == tmp_path / "home"
    assert Settings.load().index_dir == tmp_path / "home" / "index"


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("ASSISTANT_K", "five", "ASSISTANT_K must be an integer, got 'five'"),
        ("ASSISTANT_K", "0", "k must be at least 1"),
        ("ASSISTANT_CHUNK_SIZE", "10", "chunk_size must be at least 50"),
        ("ASSISTANT_CHUNK_OVERLAP", "600", "chunk_overlap must be in [0, chunk_size)"),
        ("ASSISTANT_CHROMA_URL", "localhost:8000", "must look like http://127.0.0.1:8000"),
    ],
)
def test_bad_settings(monkeypatch, env, value, message):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as exc:
        Settings.load()
    assert message in str(exc.value)


def test_settings_with_follows_home(tmp_path):
    s = Settings.load().with_(home=tmp_path / "elsewhere")
    assert s.index_dir == tmp_path / "elsewhere" / "index"


# -- cheap imports ---------------------------------------------------------------------
HEAVY = ("torch", "sentence_transformers", "chromadb", "transformers", "langchain_core")


def test_import_assistant_stays_light():
    code = ("import sys, assistant; "
            "print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))))")
    out = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True,
                         cwd=ARTICLE_PATH.parents[1], timeout=60, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve_lazily():
    import assistant

    for name in assistant.__all__:
        value = getattr(assistant, name)
        # Each public name is the package's own class, resolved from the module that defines it.
        assert isinstance(value, type) and value.__name__ == name, name
        assert value.__module__.startswith("assistant."), (name, value.__module__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        assistant.nope  # noqa: B018
