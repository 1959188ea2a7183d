"""Model backends by name: parsing, clear errors, keys kept secret, and the extractive answer when
a model server is down, hangs or writes what the article does not say (real clients, local ports)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from click.testing import CliRunner
from fakes import CountingEmbeddings
from llm_servers import ScriptedOpenAI, SilentServer, closed_port

from assistant import llm
from assistant.answer import check_citations
from assistant.api import Assistant
from assistant.cli import main
from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.llm import Backend, parse_backend, redact

# The real OpenAI and Ollama clients against local ports: `make test` installs them, `make test-fast` does not.
pytestmark = pytest.mark.extras

CATS = Document("cats", """Cat Care Basics

Cats sleep for sixteen hours every day. Domestic cats hunt mice at dawn and dusk.
Kittens open their eyes about one week after birth.
""", title="Cat Care Basics")
QUESTION = "How many hours do cats sleep every day?"
KEY = "sk-test-Zq8xW3vN5mK7pL2r"
PASSWORD = "hunter2-url-secret"


@pytest.fixture(autouse=True)
def _no_model_env(monkeypatch):
    # A developer's own key or server must neither leak into nor decide these tests.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def cats_bot(tmp_path, **settings) -> Assistant:
    return Assistant.from_documents([CATS], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings(),
                                    **settings)


# -- names ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "expected"), [
    ("extractive", None),
    ("", None),
    ("  extractive ", None),
    ("openai:gpt-4o-mini", Backend("openai", "gpt-4o-mini")),
    ("OLLAMA: llama3.2 ", Backend("ollama", "llama3.2")),
    ("llamacpp:smollm2", Backend("llamacpp", "smollm2")),
    ("llamacpp:/models/a:b.gguf", Backend("llamacpp", "/models/a:b.gguf")),  # only the first ':' splits
])
def test_parse_backend(name, expected):
    assert parse_backend(name) == expected


def test_a_backend_is_named_as_typed():
    assert parse_backend("ollama:llama3.2").name == "ollama:llama3.2"


@pytest.mark.parametrize("name", ["gpt-4o", "anthropic:claude", "openai:", "openai", "ollama:  ", ":x"])
def test_an_unknown_backend_names_every_accepted_form(name):
    with pytest.raises(ConfigError) as info:
        parse_backend(name)
    message = str(info.value)
    assert f"unknown model backend {name.strip()!r}" in message
    for form in ("extractive", "openai:<model>", "ollama:<model>", "llamacpp:<path.gguf|smollm2>"):
        assert form in message


def test_openai_without_a_key_or_a_server_says_what_to_set():
    with pytest.raises(ConfigError, match="openai: needs OPENAI_API_KEY, or OPENAI_BASE_URL"):
        llm.chat_model(parse_backend("openai:gpt-4o-mini"))


def test_a_missing_extra_names_the_extra_to_install():
    with pytest.raises(ConfigError) as info:
        llm._need("no_such_client_lib", "openai", "openai:")
    assert str(info.value) == ("the openai: backend needs no-such-client-lib: "
                               ".venv/bin/pip install -e '.[openai]'")


def test_an_installed_extra_passes():
    llm._need("langchain_openai", "openai", "openai:")


def test_a_missing_gguf_file_is_a_clear_error():
    with pytest.raises(ConfigError, match="no GGUF model at /nonexistent.gguf; give the path of a .gguf file"):
        llm.chat_model(parse_backend("llamacpp:/nonexistent.gguf"))


def test_the_packaged_smollm2_is_found_and_phrases():
    path = llm.smollm2_path()
    assert path.name == llm.SMOLLM2_FILE and path.is_file()
    # 98 MB: too small to trust with reading, so "auto" rewords the extractive quotes.
    assert llm.resolve_mode(parse_backend("llamacpp:smollm2"), "auto") == "phrase"


@pytest.mark.parametrize(("name", "mode", "expected"), [
    ("openai:gpt-4o-mini", "auto", "read"),
    ("ollama:llama3.2", "", "read"),
    ("openai:gpt-4o-mini", "PHRASE", "phrase"),
    ("llamacpp:smollm2", "read", "read"),
])
def test_resolve_mode(name, mode, expected):
    assert llm.resolve_mode(parse_backend(name), mode) == expected


def test_an_unknown_mode_is_a_clear_error():
    with pytest.raises(ConfigError, match="ASSISTANT_LLM_MODE must be one of auto, phrase, read, got 'fast'"):
        llm.resolve_mode(parse_backend("openai:m"), "fast")


# -- secrets ----------------------------------------------------------------------------
def test_redact_removes_the_configured_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-without-prefix")
    assert redact("Incorrect API key provided: plain-secret-without-prefix.") == "Incorrect API key provided: ***."


def test_redact_removes_key_shaped_words_and_url_credentials():
    text = redact(f"401 for sk-proj-{KEY} at https://bob:{PASSWORD}@llm.example/v1 and http://h:1/v1")
    assert KEY not in text and PASSWORD not in text and "bob" not in text
    assert "https://***@llm.example/v1" in text
    assert "http://h:1/v1" in text  # a URL without credentials is kept whole


def test_the_endpoint_shown_in_notices_has_no_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://bob:{PASSWORD}@127.0.0.1:9/v1")
    assert llm.endpoint(parse_backend("openai:m")) == "http://***@127.0.0.1:9/v1"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    assert llm.endpoint(parse_backend("ollama:m")) == "http://127.0.0.1:9"
    assert llm.endpoint(parse_backend("llamacpp:smollm2")) == "this process"


def assert_secret_nowhere(answer, caplog, *secrets: str) -> None:
    shown = json.dumps(answer.to_dict(), ensure_ascii=False)
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        assert secret not in shown
        assert secret not in answer.notice
        assert secret not in logged


@pytest.mark.parametrize("mode", ["phrase", "read"])
@pytest.mark.parametrize("kind", ["openai", "ollama"])
def test_a_server_that_is_down_gives_the_extractive_answer_and_keeps_the_key(
        tmp_path, monkeypatch, caplog, kind, mode):
    port = closed_port()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    if kind == "openai":
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://bob:{PASSWORD}@127.0.0.1:{port}/v1")
    else:
        monkeypatch.setenv("OLLAMA_HOST", f"http://bob:{PASSWORD}@127.0.0.1:{port}")
    caplog.set_level(logging.DEBUG)  # the clients' own debug lines must not carry the key either
    bot = cats_bot(tmp_path, llm=f"{kind}:some-model", llm_mode=mode)
    expected = bot.answerer.extractive.answer(*bot.pipeline.answer_inputs(
        bot.pipeline.prepare.invoke({"question": QUESTION, "history": [], "k": 5})))
    answer = bot.ask(QUESTION)
    assert answer.text == expected.text and "sixteen hours" in answer.text
    assert check_citations(answer, bot.documents) == []
    assert (answer.answerer, answer.mode) == (f"{kind}:some-model", mode)
    assert answer.notice.startswith(f"The model at http://***@127.0.0.1:{port}")
    assert "failed (" in answer.notice and "Connect" in answer.notice
    assert answer.notice.endswith("this is the extractive answer instead.")
    assert answer.sentences == []
    assert_secret_nowhere(answer, caplog, KEY, PASSWORD)


def test_a_server_that_never_replies_times_out_into_the_extractive_answer(tmp_path, monkeypatch):
    with SilentServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.port}/v1")
        bot = cats_bot(tmp_path, llm="openai:some-model", llm_mode="read", llm_timeout=1)
        t0 = time.perf_counter()
        answer = bot.ask(QUESTION)
        elapsed = time.perf_counter() - t0
    assert "sixteen hours" in answer.text and check_citations(answer, bot.documents) == []
    assert "failed (" in answer.notice and "timed out" in answer.notice.lower(), answer.notice
    assert elapsed < 8, f"a 1 s timeout took {elapsed:.1f} s"


# -- what a model writes ----------------------------------------------------------------
INVENTED = "The CEO of Cats Inc is Elon Musk [1]. Cats sleep for sixteen hours every day [1]."


def test_a_scripted_server_reply_is_verified_sentence_by_sentence(tmp_path, monkeypatch):
    with ScriptedOpenAI(INVENTED) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        bot = cats_bot(tmp_path, llm="openai:scripted", llm_mode="read")
        updates = list(bot.stream(QUESTION))
    text, answer = updates[-1]
    assert answer.text == text == "Cats sleep for sixteen hours every day. [1]"
    assert [u for u, a in updates if a is None] == [text]  # one verified sentence, one update
    assert check_citations(answer, bot.documents) == []
    assert [d.text for d in answer.dropped] == ["The CEO of Cats Inc is Elon Musk."]
    assert "“Elon”" in answer.dropped[0].reason and "not in the cited passages" in answer.dropped[0].reason
    assert answer.notice == ""
    assert server.requests[0]["model"] == "scripted" and server.requests[0]["temperature"] == 0.0


# -- CLI --------------------------------------------------------------------------------
def cli(args: list[str], tmp_path, **env: str):
    base = {"ASSISTANT_HOME": str(tmp_path / "home"), "ASSISTANT_EMBEDDING_MODEL": "hashing", **env}
    return CliRunner().invoke(main, args, env=base)


@pytest.mark.parametrize("command", [["ask", "Which chips?"], ["ui"]])
def test_an_unknown_llm_option_is_a_usage_error(tmp_path, command):
    result = cli([*command, "--llm", "gpt-4o"], tmp_path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '--llm': unknown model backend 'gpt-4o'; use extractive, openai:<model>" in result.stderr
    assert not (tmp_path / "home").exists()  # refused before the index or a model was touched


def test_an_unknown_llm_mode_is_a_usage_error(tmp_path):
    result = cli(["ask", "Which chips?", "--llm-mode", "fast"], tmp_path)
    assert result.exit_code == 2 and "Invalid value for '--llm-mode'" in result.stderr


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--llm", "llamacpp:/nonexistent.gguf"], {}, "no GGUF model at /nonexistent.gguf"),
    (["--llm", "openai:gpt-4o-mini"], {}, "openai: needs OPENAI_API_KEY, or OPENAI_BASE_URL"),
    ([], {"ASSISTANT_LLM": "gpt-4o"}, "unknown model backend 'gpt-4o'"),
    ([], {"ASSISTANT_LLM": "openai:m", "ASSISTANT_LLM_MODE": "fast", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
     "ASSISTANT_LLM_MODE must be one of"),
])
def test_a_backend_that_cannot_run_is_a_one_line_error(tmp_path, args, env, message):
    result = cli(["ask", "Which chips?", *args], tmp_path, **env)
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr


def test_ask_prints_the_notice_and_the_dropped_sentences_on_stderr(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cats.txt").write_text(CATS.text, encoding="utf-8")
    assert cli(["ingest", str(folder)], tmp_path).exit_code == 0
    with ScriptedOpenAI(INVENTED) as server:
        result = cli(["ask", QUESTION, "--llm", "openai:scripted", "--llm-mode", "read"], tmp_path,
                     OPENAI_BASE_URL=server.url)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Cats sleep for sixteen hours every day. [1]\n")
    assert "Elon" not in result.stdout
    assert ("dropped (not shown): “The CEO of Cats Inc is Elon Musk.” (“CEO”, “Elon”, “Inc”, “Musk” not in the "
            "cited passages)") in result.stderr
    port = closed_port()
    result = cli(["ask", QUESTION, "--llm", "openai:m"], tmp_path, OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    assert result.exit_code == 0, result.output
    assert "sixteen hours" in result.stdout and "notice:" not in result.stdout
    assert result.stderr.startswith(f"notice: The model at http://127.0.0.1:{port}/v1 failed (")


def test_ask_json_carries_the_notice(tmp_path):
    port = closed_port()
    result = cli(["ask", QUESTION, "--llm", "openai:m", "--json"], tmp_path,
                 OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answerer"] == "openai:m" and data["mode"] == "read"
    assert data["notice"].endswith("this is the extractive answer instead.")


def test_redact_keeps_error_codes_that_look_a_little_like_keys():
    assert redact("error: token_limit_exceeded, key_missing") == "error: token_limit_exceeded, key_missing"
