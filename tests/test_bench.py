"""`assistant bench`: ratios against a baseline in the same process, never wall-clock asserts."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.api import Assistant
from assistant.eval.bench import run_bench

pytestmark = pytest.mark.integration


def test_bench_reports_ratios_and_an_idempotent_reingest(article, tmp_path):
    bot = Assistant.from_documents([article], index_dir=tmp_path / "idx")
    result = run_bench(bot, ["Which TPU generations is OpenAI using?", "What are TPUs optimized for?"], rounds=6)
    assert result["asks"] == 6
    assert result["ask_ms"]["p50"] > 0 and result["similarity_search_ms"]["p50"] > 0
    assert result["ask_over_similarity_search_p50"] == pytest.approx(
        result["ask_ms"]["p50"] / result["similarity_search_ms"]["p50"])
    # Re-ingesting an unchanged corpus embeds nothing and reuses every stored span.
    assert result["reingest_unchanged"]["embedded"] == 0
    assert result["reingest_unchanged"]["reused"] > 0


def test_the_ui_load_bench_reports_both_apps_and_their_ratio(tmp_path):
    """Shape and errors only, at small numbers: speed targets are read from the JSON, not asserted."""
    from ui_fakes import scripted_assistant

    from assistant.documents import load_file
    from assistant.eval.ui_load import run_ui_bench

    article = load_file(Path(__file__).resolve().parents[1] / "corpus" / "openai-google-cloud-tpus.txt")
    bot = scripted_assistant([article], tmp_path / "home")
    questions = ["What are TPUs, according to the article?", "Why are they efficient?", "Who is the CEO?"]
    result = run_ui_bench(bot, questions, clients=4, seconds=3)
    assert result["clients"] == 4 and result["updates_per_answer"] >= 1  # one per cited sentence
    for name in ("ui", "trivial"):
        side = result[name]
        assert side["errors"] == 0, side["error_samples"]
        assert side["requests"] >= 4 and side["requests_per_s"] > 0
        assert 0 < side["latency_s"]["p50"] <= side["latency_s"]["p95"]
        # The trivial app streams the UI's mean number of updates per answer, rounded (the UI's
        # varies with the question: one per cited sentence): the comparison is like for like.
        assert abs(side["updates_per_answer"] - result["updates_per_answer"]) < 1
    assert result["ui_over_trivial"]["p95"] == pytest.approx(
        result["ui"]["latency_s"]["p95"] / result["trivial"]["latency_s"]["p95"])
    # The same UI again while uploads run in its process: chats still all answered, and their
    # latency given as a ratio to the run without uploads.
    busy = result["ui_uploading"]
    assert busy["errors"] == 0, busy["error_samples"]
    assert busy["requests"] >= 4 and busy["uploads"]["errors"] == []
    assert busy["uploads"]["done"] >= 1 and busy["uploads"]["spans"] > 0
    assert result["uploading_over_ui"]["p95"] == pytest.approx(
        busy["latency_s"]["p95"] / result["ui"]["latency_s"]["p95"])
    assert [d.id for d in bot.documents] == [article.id]  # each bench upload was removed again
    # Both servers were stopped: nothing is left listening on the ports the bench used.
    assert result["ports_released"] is True
