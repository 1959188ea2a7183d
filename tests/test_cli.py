"""The CLI as a user runs it: exit codes, one-line errors, no tracebacks, cheap --help.

Process-level promises (startup cost, what gets imported, the console script, exit codes) run
in a real subprocess; the rest goes through click's CliRunner in-process, which is the same
`main` without paying ~2 s of interpreter start-up per case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO

from assistant.cli import main

ASSISTANT = Path(sys.executable).with_name("assistant")  # the console script pyproject declares
HEAVY = ("torch", "sentence_transformers", "chromadb", "transformers", "langchain_core", "gradio")


def cli_env(home: Path) -> dict[str, str]:
    """The environment for a CLI run: temp home, fast hashing model, offline."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    return {**base, "ASSISTANT_HOME": str(home), "ASSISTANT_EMBEDDING_MODEL": "hashing",
            "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return cli_env(tmp_path / "home")


def run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`assistant ARGS` in a real process."""
    return subprocess.run([str(ASSISTANT), *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=timeout)


def invoke(args: list[str], env: dict[str, str]):
    """`assistant ARGS` in-process (same entry point, no start-up cost)."""
    return CliRunner().invoke(main, args, env=env)


def assert_one_line_error(stderr: str, stdout: str, needle: str) -> None:
    assert "Traceback" not in stderr + stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: ")
    assert needle in lines[0]


# -- process-level ---------------------------------------------------------------------
def test_console_script_is_installed():
    assert ASSISTANT.exists(), "pip install -e . should create the `assistant` script"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["ask", "--help"]])
def test_help_is_fast(env, args):
    t0 = time.perf_counter()
    proc = run(args, env, timeout=60)
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "Usage: assistant" in proc.stdout
    assert elapsed < 10, f"--help took {elapsed:.1f}s"


def imported_after(args: list[str], env: dict[str, str]) -> set[str]:
    """Top-level heavy packages imported by running `assistant ARGS` in a fresh interpreter."""
    code = (
        "import sys\n"
        "from assistant.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY=' + ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=60)
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("HEAVY="), proc.stdout + proc.stderr
    return set(filter(None, line[len("HEAVY="):].split(",")))


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["ingest", "--help"], ["--version"]])
def test_help_imports_nothing_heavy(env, args):
    assert imported_after(args, env) == set()


@pytest.mark.parametrize("args", [["ask", ""], ["ask", "x", "-k", "0"], ["bench", "--ui", "--clients", "0"]])
def test_input_errors_fail_before_loading_a_model(env, args):
    # Validation may import the pipeline's modules, but never the model or the vector store.
    assert not imported_after(args, env) & {"torch", "sentence_transformers", "transformers", "chromadb"}


def test_ask_empty_question(env, tmp_path):
    proc = run(["ask", "  "], env)
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, proc.stdout, "the question is empty")
    assert not (tmp_path / "home").exists()  # failed before touching the index


def test_ask_k_zero_is_a_usage_error(env):
    proc = run(["ask", "x", "-k", "0"], env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Invalid value for '-k'" in proc.stderr


def test_ingest_missing_path(env):
    proc = run(["ingest", "/nonexistent/article.txt"], env)
    assert proc.returncode == 1
    assert_one_line_error(proc.stderr, proc.stdout, "/nonexistent/article.txt does not exist")


CATS = """Cat Care Basics

Cats sleep for sixteen hours every day. Domestic cats hunt mice at dawn and dusk.
Kittens open their eyes about one week after birth.
"""


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[dict[str, str], Path, subprocess.CompletedProcess]:
    """A home where `assistant ingest <folder with cats.txt>` has run once, in a real process."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "cats.txt").write_text(CATS, encoding="utf-8")
    (folder / "cats.json").write_text('{"title": "Cat Care Basics", "outlet": "Cat Gazette"}',
                                      encoding="utf-8")
    env = cli_env(tmp_path_factory.mktemp("home"))
    return env, folder, run(["ingest", str(folder)], env)


def test_ingest_reports_what_it_did(ingested):
    _, _, proc = ingested
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("1 document(s): ")
    assert "in the index at" in proc.stdout


def test_ask_json_cites_the_ingested_file(ingested):
    env, _, _ = ingested
    proc = run(["ask", "When do kittens open their eyes?", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["abstained"] is False
    assert data["question"] == "When do kittens open their eyes?"
    cited = [c for c in data["citations"] if c["doc_id"] == "cats"]
    assert cited and "one week after birth" in cited[0]["quote"]
    assert cited[0]["quote"] == CATS[cited[0]["start"] : cited[0]["end"]]
    assert cited[0]["outlet"] == "Cat Gazette"
    assert f"[{cited[0]['n']}]" in data["text"]


# -- in-process ------------------------------------------------------------------------
def test_docs_lists_the_ingested_file(ingested):
    env, _, _ = ingested
    result = invoke(["docs"], env)
    assert result.exit_code == 0, result.output
    assert any(line.startswith("cats\t") and line.endswith("Cat Care Basics")
               for line in result.stdout.splitlines())


def test_ask_plain_output_shows_citations(ingested):
    env, _, _ = ingested
    result = invoke(["ask", "How many hours do cats sleep every day?"], env)
    assert result.exit_code == 0, result.output
    assert "[1] “Cat Care Basics”, Cat Gazette, ¶ 1" in result.stdout
    assert "“Cats sleep for sixteen hours every day.”" in result.stdout


def test_second_ingest_embeds_nothing(ingested):
    env, folder, _ = ingested
    result = invoke(["ingest", str(folder)], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("1 document(s): 0 span(s) embedded")


def test_version(env):
    result = invoke(["--version"], env)
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout


def test_help_lists_the_commands(env):
    out = invoke(["--help"], env).stdout
    for command in ("ask", "docs", "ingest", "remove", "ui"):
        assert f"  {command}" in out


@pytest.mark.parametrize(
    ("var", "value", "needle"),
    [
        ("ASSISTANT_K", "lots", "ASSISTANT_K must be an integer, got 'lots'"),
        ("ASSISTANT_CHROMA_URL", "localhost:8000", "must look like http://127.0.0.1:8000"),
        ("ASSISTANT_CHROMA_URL", "http://127.0.0.1:9", "cannot reach the Chroma server at http://127.0.0.1:9"),
        ("ASSISTANT_EMBEDDING_MODEL", "no-such-model", "neither 'minilm', 'hashing' nor a local model folder"),
    ],
)
def test_bad_settings_are_one_line_errors(env, var, value, needle):
    result = invoke(["ask", "What are TPUs?"], {**env, var: value})
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, result.stdout, needle)


def test_ingest_missing_path_touches_nothing(env, tmp_path):
    result = invoke(["ingest", "/nonexistent/article.txt"], env)
    assert result.exit_code == 1
    assert not (tmp_path / "home" / "index" / "documents.json").exists()


def test_eval_from_feedback_prints_draft_cases(env, tmp_path):
    from assistant.feedback import FeedbackStore

    path = tmp_path / "feedback.jsonl"
    store = FeedbackStore(path)
    store.append({"rating": "up", "comment": "", "question": "Which TPUs?", "query": "Which TPUs?",
                  "answer": "v4 and v5e [1]", "abstained": False,
                  "citations": [{"n": 1, "quote": "v4 and v5e TPUs"}]})
    store.append({"rating": "down", "comment": "wrong part", "question": "Why Google?", "query": "",
                  "answer": "x [1]", "abstained": False, "citations": [{"n": 1, "quote": "x"}]})
    result = invoke(["eval", "--from-feedback", str(path)], env)
    assert result.exit_code == 0, result.output
    drafts = [json.loads(line) for line in result.output.splitlines()]
    assert [d["question"] for d in drafts] == ["Which TPUs?", "Why Google?"]
    assert drafts[0]["evidence"] == ["v4 and v5e TPUs"] and drafts[0]["answerable"] is True
    assert drafts[1]["evidence"] == [] and "wrong part" in drafts[1]["review"]


def test_remove_takes_a_document_out_and_docs_lists_the_rest(env, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "cats.txt").write_text(CATS, encoding="utf-8")
    (folder / "dogs.txt").write_text("Dog Care\n\nDogs were domesticated from wolves.\n", encoding="utf-8")
    assert invoke(["ingest", str(folder)], env).exit_code == 0
    listed = invoke(["docs"], env).stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["cats", "dogs"]
    assert all(line.split("\t")[2][:4].isdigit() for line in listed)  # when each was added
    result = invoke(["remove", "dogs"], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("removed dogs (“Dog Care”); 1 document(s) left in the index at ")
    assert [line.split("\t")[0] for line in invoke(["docs"], env).stdout.splitlines()] == ["cats"]
    answer = json.loads(invoke(["ask", "What were dogs domesticated from?", "--json"], env).stdout)
    assert not any(c["doc_id"] == "dogs" for c in answer["citations"])
    missing = invoke(["remove", "dogs"], env)
    assert missing.exit_code == 1
    assert_one_line_error(missing.stderr, missing.stdout, "no document 'dogs' in the index; see `assistant docs`")


SCALE_RESULT = {"points": [{"store": "embedded", "size": 1000, "ask_ms": {"p50": 120.25}},
                           {"store": "server", "size": 1000, "ask_ms": {"p50": 131.5}}],
                "ratios": {"server": {"ask_p50_1000_over_100": 1.0625}}}


@pytest.mark.parametrize("as_json", [False, True])
def test_bench_prints_a_table_for_people_and_json_when_asked(monkeypatch, as_json):
    """The scale curve's measuring is swapped for a fixed result: this checks only how it is printed."""
    from assistant.eval import scale

    monkeypatch.setattr(scale, "run_scale", lambda sizes, stores: SCALE_RESULT)
    run = CliRunner().invoke(main, ["bench", "--scale", "1000", *(["--json"] if as_json else [])],
                             terminal_width=200)
    assert run.exit_code == 0, run.output
    if as_json:
        assert json.loads(run.output) == SCALE_RESULT
        return
    lines = run.output.splitlines()
    # Each scale point is named by its store and size, each figure by its path, numbers to 3 places.
    assert any("points.embedded 1000.ask_ms.p50" in ln and "120.250" in ln for ln in lines), run.output
    assert any("points.server 1000.ask_ms.p50" in ln and "131.500" in ln for ln in lines), run.output
    assert any("ratios.server.ask_p50_1000_over_100" in ln and "1.062" in ln for ln in lines), run.output
    size = next(ln for ln in lines if "points.embedded 1000.size" in ln)
    assert "1000" in size and "1000.0" not in size  # ints stay ints
