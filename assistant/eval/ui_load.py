"""The UI under concurrent chat clients, as a ratio to a trivial app streaming the same shape.

    >>> run_ui_bench(bot, ["Which TPU versions does OpenAI use?"], clients=20, seconds=20)

Both apps get the same queue settings and the same number of streamed updates per answer; the
trivial one answers at no cost, so the ratio shows what the assistant and its rendering add on
top of Gradio's own per-event cost. The UI is then loaded once more while uploads run without
pause in its process (`Assistant.upload`, as the sources panel calls it: a copy of the first
document under a new id, embedded afresh each time, then removed): the ratio of that run's
latency to the first one is what an upload costs the people chatting. Clients run in a child process (one session each, raw HTTP
against the queue API): in the server's process they would compete with it for the GIL.
"""

from __future__ import annotations

import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

HOST = "127.0.0.1"
TURNS_PER_SESSION = 4  # then the client starts a new session: history stays a realistic size


def run_ui_bench(bot, questions: Sequence[str], clients: int = 20, seconds: float = 20,
                 turns: int = TURNS_PER_SESSION) -> dict[str, Any]:
    """Requests/s, p50, p95 and errors of the UI and of a trivial app, and their ratios."""
    from assistant_ui.app import build_app

    if not questions:
        raise ValueError("the UI bench needs at least one question")
    updates = streamed_updates(bot, questions)
    results, urls = {}, []
    for name, demo in (("trivial", trivial_app(updates)), ("ui", build_app(bot))):
        with serving(demo) as url:
            results[name] = drive_elsewhere(url, questions, clients, seconds, turns)
        urls.append(url)
    with serving(build_app(bot)) as url, uploading(bot) as uploads:
        results["ui_uploading"] = drive_elsewhere(url, questions, clients, seconds, turns)
    urls.append(url)
    ui, base, busy = results["ui"], results["trivial"], results["ui_uploading"]
    return {
        "clients": clients, "seconds": seconds, "updates_per_answer": updates,
        "ports_released": not any(map(_listening, urls)),
        # The apps are served from this process: its peak is the UI server's (model, reader, index).
        "server_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "ui": ui, "trivial": base, "ui_uploading": {**busy, "uploads": uploads},
        "ui_over_trivial": {
            "requests_per_s": _ratio(ui["requests_per_s"], base["requests_per_s"]),
            "p50": _ratio(ui["latency_s"]["p50"], base["latency_s"]["p50"]),
            "p95": _ratio(ui["latency_s"]["p95"], base["latency_s"]["p95"]),
        },
        "uploading_over_ui": {
            "requests_per_s": _ratio(busy["requests_per_s"], ui["requests_per_s"]),
            "p50": _ratio(busy["latency_s"]["p50"], ui["latency_s"]["p50"]),
            "p95": _ratio(busy["latency_s"]["p95"], ui["latency_s"]["p95"]),
        },
    }


BENCH_DOC = "bench-upload"


@contextmanager
def uploading(bot) -> Iterator[dict[str, Any]]:
    """Uploads one after another in a background thread until exit: a copy of the bot's first
    document, changed in every line so each round embeds it all, then removed again. Yields the
    counts (filled in on exit): uploads done, spans embedded, seconds per upload, errors."""
    source = bot.documents[0]
    stats: dict[str, Any] = {"done": 0, "spans": 0, "seconds": [], "errors": []}
    stop = threading.Event()

    def loop() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            text = "\n".join(f"{line} ({n})" if line.strip() else line for line in source.text.splitlines())
            meta = json.dumps({"id": BENCH_DOC, "title": f"{source.title} (bench copy {n})"})
            t0 = time.perf_counter()
            try:
                results = bot.upload([(f"{BENCH_DOC}.txt", text.encode()), (f"{BENCH_DOC}.json", meta.encode())],
                                     on_progress=lambda _d, done, _t: stats.__setitem__("last", done))
                if results[0].outcome != "added":
                    raise RuntimeError(results[0].line())
                stats["spans"] += stats.pop("last", 0)
                stats["seconds"].append(time.perf_counter() - t0)
                stats["done"] += 1
            except Exception as exc:  # counted, and the loop goes on: the bench must not stop on one
                stats["errors"].append(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                if any(d.id == BENCH_DOC for d in bot.documents):
                    bot.remove(BENCH_DOC)

    worker = threading.Thread(target=loop, name="bench-uploads", daemon=True)
    worker.start()
    try:
        yield stats
    finally:
        stop.set()
        worker.join(timeout=300)
        seconds = stats.pop("seconds")
        stats["seconds_per_upload"] = sum(seconds) / len(seconds) if seconds else None
        stats["errors"] = sorted(set(stats["errors"]))[:3]


def streamed_updates(bot, questions: Sequence[str]) -> int:
    """How many updates the UI sends per answer, on average over these questions."""
    from assistant_ui.app import respond

    counts = [sum(1 for _ in respond(bot, q, [], bot.settings.k)) for q in questions]
    return max(1, round(sum(counts) / len(counts)))


def trivial_app(updates: int):
    """An app with the UI's endpoint, outputs and queue settings whose answer costs nothing."""
    import gradio as gr

    def ask(question: str, turns: list, k: float, llm_name: str) -> Iterator[tuple]:
        asked = [{"role": "user", "content": question}]
        for i in range(1, updates):
            yield ([*asked, {"role": "assistant", "content": "word " * i}],
                   gr.skip(), gr.skip(), gr.skip(), gr.skip(), "" if i == 1 else gr.skip())
        turns = [*turns, {"question": question, "text": "word " * updates}]
        yield ([*asked, {"role": "assistant", "content": "word " * updates}], turns, "<p>done</p>",
               "<p>details</p>", turns[-1], gr.skip())

    with gr.Blocks(analytics_enabled=False) as demo:
        turns = gr.State([])
        msg, k, llm_name = gr.Textbox(), gr.Slider(1, 10, value=5), gr.Textbox()
        outputs = [gr.Chatbot(), turns, gr.HTML(), gr.HTML(), gr.JSON(), msg]
        msg.submit(ask, [msg, turns, k, llm_name], outputs, api_name="ask")
    return demo


@contextmanager
def serving(demo) -> Iterator[str]:
    """Serve an app with the UI's queue settings on a free local port; closed on exit."""
    import socket

    from assistant_ui.app import queued

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    queued(demo).launch(server_name=HOST, server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://{HOST}:{port}/"
    finally:
        demo.close(verbose=False)  # stdout carries the bench's JSON


def drive(url: str, questions: list[str], clients: int, seconds: float,
          turns: int = TURNS_PER_SESSION) -> dict[str, Any]:
    """`clients` sessions asking in a loop for `seconds`; each answer's latency, and errors."""

    return asyncio.run(_drive(url, questions, clients, seconds, turns))


async def _drive(url: str, questions: list[str], clients: int, seconds: float, turns: int) -> dict[str, Any]:
    # Raw HTTP against the queue API, all sessions on one event loop: gradio_client spends a few
    # threads per job and, on two cores, took more CPU than the server it was measuring.
    import httpx

    from . import metrics as m

    latencies: list[float] = []
    updates: list[int] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=2 * clients + 4, max_keepalive_connections=2 * clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(120), limits=limits) as http:
        fn_index = _fn_index((await http.get("config")).json(), "ask")
        began = time.perf_counter()
        deadline = began + seconds

        async def session(i: int) -> None:
            asked = 0
            while time.perf_counter() < deadline:
                if asked % turns == 0:
                    session_hash = uuid.uuid4().hex  # a new browser tab: empty history
                question = questions[(i + asked) % len(questions)]
                t0 = time.perf_counter()
                try:
                    answer, streamed = await _ask(http, fn_index, session_hash, question)
                    if not isinstance(answer, dict) or answer.get("question") != question:
                        raise RuntimeError(f"unexpected answer {str(answer)[:80]!r}")
                except Exception as exc:  # every failure counts; the bench must not stop on one
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                else:
                    latencies.append(time.perf_counter() - t0)
                    updates.append(streamed)
                asked += 1

        await asyncio.gather(*(session(i) for i in range(clients)))
        elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies), "errors": len(errors), "error_samples": sorted(set(errors))[:3],
        "requests_per_s": len(latencies) / elapsed,
        "latency_s": {"p50": m.percentile(latencies, 50), "p95": m.percentile(latencies, 95)},
        "updates_per_answer": m.mean(updates),
    }


async def _ask(http, fn_index: int, session_hash: str, question: str) -> tuple[Any, int]:
    """One question through the queue: (the final answer dict, how many updates streamed)."""
    # Inputs: question, the session's turns (gr.State: the server keeps its own copy), k, and the
    # model name ("": the bot's own backend).
    joined = await http.post("gradio_api/queue/join", json={
        "data": [question, None, 5, ""], "fn_index": fn_index, "session_hash": session_hash,
        "event_data": None, "trigger_id": None})
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    streamed = 0
    async with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session_hash}) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("event_id") != event_id:
                continue
            if msg["msg"] == "process_generating":
                streamed += 1
            elif msg["msg"] == "process_completed":
                if not msg.get("success", True):
                    raise RuntimeError(f"the app failed: {str(msg.get('output'))[:120]}")
                return msg["output"]["data"][4], streamed  # outputs: chat, turns, panel, details, answer
    raise RuntimeError("the stream ended before the answer was complete")


def _fn_index(config: dict, api_name: str) -> int:
    for i, dep in enumerate(config["dependencies"]):
        if dep.get("api_name") == api_name:
            return dep.get("id", i)
    raise RuntimeError(f"the app has no /{api_name} endpoint")


def drive_elsewhere(url: str, questions: Sequence[str], clients: int, seconds: float,
                    turns: int = TURNS_PER_SESSION) -> dict[str, Any]:
    """`drive` in a child Python process (`python -m assistant.eval.ui_load`), its JSON result read back."""
    job = json.dumps({"url": url, "questions": list(questions), "clients": clients,
                      "seconds": seconds, "turns": turns})
    done = subprocess.run([sys.executable, "-m", "assistant.eval.ui_load"], input=job, capture_output=True,
                          text=True, timeout=seconds + 120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the load clients failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def _listening(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.socket() as s:
        return s.connect_ex((parts.hostname, parts.port)) == 0


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


if __name__ == "__main__":  # the client side of `drive_elsewhere`: a job as JSON on stdin
    print(json.dumps(drive(**json.loads(sys.stdin.read()))))
