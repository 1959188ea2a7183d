"""`assistant bench`: ratios against a baseline in the same process, never wall-clock asserts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from assistant.cli import main

pytestmark = pytest.mark.integration

TINY = [
    {"doc_id": "tea", "title": "Tea", "context": "Green tea is made from unoxidised leaves. Black tea is fully "
     "oxidised before drying. Tea reached Europe in the seventeenth century. It was first sold in Dutch shops."},
    {"doc_id": "moon", "title": "Moon", "context": "The Moon orbits the Earth about every 27 days. Its distance "
     "varies between about 363,000 and 405,000 kilometres. Tides follow the Moon's pull on the oceans."},
]


def test_bench_on_a_tiny_corpus_gives_every_figure_as_a_ratio_to_its_floor(tmp_path):
    corpus = tmp_path / "tiny.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in TINY), encoding="utf-8")
    questions = tmp_path / "q.txt"
    questions.write_text("When did tea reach Europe?\nHow far away is the Moon?\n", encoding="utf-8")
    run = CliRunner().invoke(main, ["bench", "--corpus", str(corpus), "--questions", str(questions),
                                    "--rounds", "6", "--cold-runs", "1", "--json"])
    assert run.exit_code == 0, run.output
    result = json.loads(run.output)
    ingest, warm, cold = result["ingest"], result["warm_ask"], result["cold_ask"]
    assert ingest["documents"] == 2 and ingest["assistant"]["chunks"] >= 2
    assert ingest["assistant_over_naive"] == pytest.approx(ingest["assistant"]["seconds"] / ingest["naive"]["seconds"])
    assert ingest["assistant_over_its_encode_floor"] == pytest.approx(
        ingest["assistant"]["seconds"] / ingest["encode_floor_seconds"]["assistant_texts"])
    # Re-ingesting an unchanged corpus embeds nothing and reuses every stored span.
    assert ingest["reingest_unchanged"]["embedded"] == 0 and ingest["reingest_unchanged"]["reused"] > 0
    assert warm["asks"] == 6 and 0 < warm["ask_ms"]["p50"] <= warm["ask_ms"]["p95"]
    assert warm["ask_over_similarity_search"]["p50"] == pytest.approx(
        warm["ask_ms"]["p50"] / warm["similarity_search_ms"]["p50"])
    assert set(warm["stage_ms_p50"]) == {"parse", "retrieve", "read", "decide_and_render"}
    assert warm["stage_ms_p50"]["read"] > 0  # the shipped reader ran, and its time is its own stage
    assert cold["runs"] == 1 and cold["ask_over_floor"] == pytest.approx(
        cold["ask_seconds_p50"] / cold["import_floor_seconds_p50"])
    assert cold["ask_peak_rss_mb"] > cold["floor_peak_rss_mb"] > 50  # both load torch and MiniLM


def test_bench_says_what_to_give_when_the_corpus_holds_no_document(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    run = CliRunner().invoke(main, ["bench", "--corpus", str(empty)])
    assert run.exit_code != 0
    assert "no documents in" in run.output and ".jsonl with doc_id and context" in run.output


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
    assert result["server_peak_rss_mb"] > 50
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


def test_the_scale_curve_reports_each_point_and_the_ratios_between_sizes(tmp_path):
    """Tiny sizes, both stores (a real `chroma run` is started and stopped): shape, not speed."""
    from assistant.eval.scale import plot, run_scale

    result = run_scale([100, 200], ["embedded", "server"], questions_n=4)
    points = result["points"]
    assert [(p["store"], p["size"]) for p in points] == [
        ("embedded", 100), ("embedded", 200), ("server", 100), ("server", 200)]
    for p in points:
        assert p["chunks"] >= p["size"] * 0.8 and p["search"] == "exact"  # under EXACT_SEARCH_MAX
        assert p["ingest_chunks_per_s"] > 0 and 0 < p["ask_ms"]["p50"] <= p["ask_ms"]["p95"]
        assert p["peak_rss_mb"] > 100
    assert all(p["server_peak_rss_mb"] > 0 for p in points if p["store"] == "server")
    for p in points:  # a fresh process reopened each built index: nothing to mend or re-embed
        again = p["reopened"]
        assert again["notes_on_open"] == [] and again["open_seconds"] > 0 and again["first_ask_seconds"] > 0
        assert 0 < again["ask_ms"]["p50"] <= again["ask_ms"]["p95"] and again["peak_rss_mb"] > 100
        assert (again.get("server_peak_rss_mb") or 0) > 0 if p["store"] == "server" else "server_peak_rss_mb" not in again
    for store in ("embedded", "server"):
        r = result["ratios"][store]
        by = {p["size"]: p for p in points if p["store"] == store}
        assert r["ask_p50_200_over_100"] == pytest.approx(by[200]["ask_ms"]["p50"] / by[100]["ask_ms"]["p50"])
        assert r["reopened_ask_p50_200_over_100"] == pytest.approx(
            by[200]["reopened"]["ask_ms"]["p50"] / by[100]["reopened"]["ask_ms"]["p50"])
    plot(result, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"


def test_a_scale_point_past_the_exact_search_reports_the_search_width(tmp_path, monkeypatch):
    """Past the exact search, HNSW at the configured width finds the exact top 10 of 100 chunks."""
    from assistant.eval.scale import _prepare, measure_point

    monkeypatch.setenv("ASSISTANT_HNSW_EF_SEARCH", "300")
    monkeypatch.setattr("assistant.index.EXACT_SEARCH_MAX", 0)
    sentences, questions = _prepare(tmp_path, 4)
    p = measure_point(100, tmp_path, questions, sentences, None)
    assert p["search"] == "hnsw" and p["hnsw_ef_search"] == 300
    assert p["recall_at_10_vs_exact"] == 1.0 and p["dense_search_ms"]["p50"] > 0
