"""The live UI server driven through gradio_client: answers, follow-ups, abstentions, feedback.

The UI's behaviour is tested over a scripted answerer (tests/ui_fakes.py), so it does not hang
on which sentences the real answerer picks; the last test serves the real model and checks
only what the product must do with it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError
from ui_fakes import scripted_assistant, serving

from assistant.answer import Answer, Citation, check_citations
from assistant.feedback import FeedbackStore

pytestmark = pytest.mark.integration

ARTICLE_PATH = Path(__file__).resolve().parents[1] / "corpus" / "openai-google-cloud-tpus.txt"






@pytest.fixture(scope="module")
def bot(tmp_path_factory):
    """The article behind a scripted answerer: two citations for "What are TPUs, ...?", one for
    "... efficient?", an abstention for anything unscripted."""
    from assistant.documents import load_file

    return scripted_assistant([load_file(ARTICLE_PATH)], tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def url(bot):
    with serving(bot) as address:
        yield address


def ask(client: Client, question: str, k: int = 5) -> tuple[list, dict, list]:
    """(final chat, answer dict, every streamed chat) for one question."""
    job = client.submit(question, k, api_name="/ask")
    updates = list(job)
    assert updates[0][-1] == ""  # the first update empties the question box
    chat, _panel, _details, answer, _box = job.result()
    return chat, answer, [u[0] for u in updates]


def as_answer(data: dict) -> Answer:
    return Answer(text=data["text"], abstained=data["abstained"], query=data["query"],
                  citations=[Citation(**c) for c in data["citations"]])


def message_text(message: dict) -> str:
    content = message["content"]
    return "".join(part.get("text", "") for part in content) if isinstance(content, list) else content


def test_a_question_gets_a_streamed_answer_with_valid_citations(url, bot):
    client = Client(url, verbose=False)
    chat, answer, streamed = ask(client, "What are TPUs, according to the article?")
    assert len(streamed) >= 2  # the text arrived sentence by sentence, not at once
    assert not answer["abstained"] and [c["n"] for c in answer["citations"]] == [1, 2]
    assert check_citations(as_answer(answer), bot.documents) == []
    html = message_text(chat[-1])
    assert all(f'href="#cite-1-{c["n"]}"' in html for c in answer["citations"])
    # [1] is already a link while [2] is still to come.
    early = [message_text(s[-1]) for s in streamed[:-1] if s and "[1]" in message_text(s[-1])]
    assert early and 'href="#cite-1-1"' in early[0] and "[2]" not in early[0]


def test_a_follow_up_uses_this_sessions_history_only(url):
    client = Client(url, verbose=False)
    ask(client, "What are TPUs, according to the article?")
    chat, answer, _ = ask(client, "Why are they efficient?")
    assert len(chat) == 4
    assert answer["query"] != answer["question"] and "TPUs" in answer["query"]
    assert "Searched for:" in message_text(chat[-1])
    assert any("performance per watt" in c["quote"] for c in answer["citations"])
    # Another session (another browser tab) starts from an empty history.
    chat, other, _ = ask(Client(url, verbose=False), "Why are they efficient?")
    assert len(chat) == 2 and other["query"] == "Why are they efficient?"


def test_concurrent_sessions_never_see_each_others_history(url):
    """20 sessions asking at the same moment, answered 4 at a time: each keeps only its own turns."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    sessions = 20
    together = Barrier(sessions, timeout=60)  # every step starts in all sessions at once

    def converse(i: int) -> tuple[list[str], list, dict, list[str]]:
        client = Client(url, verbose=False)
        asked = [f"What are TPUs, asks reader {i}?", f"Why are they efficient, reader {i}?"]
        answers = []
        for question in asked:
            together.wait()
            chat, answer, _ = ask(client, question)
            answers.append(answer)
        users = [re.sub(r"<[^>]+>", "", message_text(m)) for m in chat if m["role"] == "user"]
        return asked, chat, answers[-1], users

    with ThreadPoolExecutor(sessions) as pool:
        results = list(pool.map(converse, range(sessions), timeout=180))
    for asked, chat, follow_up, users in results:
        assert users == asked and len(chat) == 4
        assert follow_up["question"] == asked[1]
        assert follow_up["query"] != asked[1] and "TPUs" in follow_up["query"]  # its own history


def test_an_unanswerable_question_abstains(url):
    chat, answer, _ = ask(Client(url, verbose=False), "How much is the OpenAI–Google Cloud deal worth?")
    assert answer["abstained"] and answer["citations"] == []
    assert 'class="abstain"' in message_text(chat[-1])


def test_feedback_and_clear(url, bot):
    client = Client(url, verbose=False)
    ask(client, "What are TPUs, according to the article?")
    assert client.predict("spot on", api_name="/feedback_up") == ""
    record = FeedbackStore(bot.settings.home / "feedback.jsonl").read()[-1]
    assert record["rating"] == "up" and record["comment"] == "spot on" and record["citations"]
    chat, _panel, _details, answer = client.predict(api_name="/clear")
    assert chat == [] and answer is None
    _, after, _ = ask(client, "Why are they efficient?")
    assert after["query"] == "Why are they efficient?"  # the history went with the clear


def test_basic_auth_from_the_environment(bot, monkeypatch):
    monkeypatch.setenv("ASSISTANT_UI_AUTH", "ann:s3cret")
    with serving(bot) as address:
        with pytest.raises(AuthenticationError):
            Client(address, verbose=False)
        with pytest.raises(ValueError, match="Could not login"):
            Client(address, auth=("ann", "wrong"), verbose=False)
        client = Client(address, auth=("ann", "s3cret"), verbose=False)
        _, answer, _ = ask(client, "What are TPUs, according to the article?")
        assert answer["citations"]


def test_the_real_model_cites_exact_spans_follows_up_and_abstains(real_bot):
    """Structure, not sentence choice: exact quotes, linked markers, a rewritten follow-up query,
    and the one product-level fact every version of the answerer must get (v4 and v5e)."""
    docs = {d.id: d for d in real_bot.documents}
    with serving(real_bot) as address:
        client = Client(address, verbose=False)
        chat, answer, _ = ask(client, "Which TPU versions does OpenAI use?")
        assert not answer["abstained"] and len(answer["citations"]) >= 1
        assert check_citations(as_answer(answer), real_bot.documents) == []
        html = message_text(chat[-1])
        for c in answer["citations"]:
            assert docs[c["doc_id"]].text[c["start"] : c["end"]] == c["quote"]
            assert f'href="#cite-1-{c["n"]}"' in html
        assert any("v4 and v5e" in c["quote"] for c in answer["citations"])

        chat, follow, _ = ask(client, "Why are they efficient?")
        assert len(chat) == 4 and follow["query"] != follow["question"] and "TPU" in follow["query"]
        assert check_citations(as_answer(follow), real_bot.documents) == []

        chat, refused, _ = ask(Client(address, verbose=False), "Who is OpenAI's CEO?")
        assert refused["abstained"] and refused["citations"] == []
        assert 'class="abstain"' in message_text(chat[-1])
