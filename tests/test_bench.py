"""`assistant bench`: ratios against a baseline in the same process, never wall-clock asserts."""

from __future__ import annotations

import pytest

from assistant.api import Assistant
from assistant.bench import run_bench

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
