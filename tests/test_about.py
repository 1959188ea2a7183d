"""Questions about the document itself: its author, date, outlet and link, from its metadata."""

from __future__ import annotations

import pytest
from conftest import ARTICLE_PATH, isolated
from fakes import CountingEmbeddings

from assistant.answer import check_citations
from assistant.api import Assistant
from assistant.documents import Document, load_file
from assistant.naming import document_field

SOURCE_LINE = ("Source: https://www.datacenters.com/news/openai-s-strategic-partnership-with-google-cloud-"
               "powering-the-next-wave-of-ai-innovation")


@pytest.fixture(scope="module")
def article_bot(tmp_path_factory) -> Assistant:
    with isolated(tmp_path_factory.mktemp("home")):
        return Assistant.from_documents([load_file(ARTICLE_PATH)], index_dir=tmp_path_factory.mktemp("idx"),
                                        embeddings=CountingEmbeddings())


# -- which questions are about the document ------------------------------------------------------

@pytest.mark.parametrize(("question", "field"), [
    ("What is the link to the article?", "meta"),
    ("What's the URL?", "meta"),
    ("What outlet published this?", "meta"),
    ("Which website is the story from?", "meta"),
    ("Where can I read the original?", "meta"),
    ("Where can I read the full article?", "meta"),
    ("Where is this article from?", "meta"),
    ("Who wrote the article?", "author"),
    ("Who is the author?", "author"),
    ("What is the author's name?", "author"),
    ("Who is the writer of this piece?", "author"),
    ("Is there a byline?", "author"),
    ("When was it published?", "date"),
    ("When was the story written?", "date"),
    ("What is the article's publication date?", "date"),
    ("How old is the article?", "date"),
    ("When did the report come out?", "date"),
])
def test_questions_about_the_documents_metadata(question, field):
    assert document_field(question) == field


@pytest.mark.parametrize("question", [
    "When did OpenAI sign the deal?",  # a date the article reports, not the article's own
    "When was it signed?",
    "When was it released?",  # said of products too: only "the article came out" is the article's
    "When does it post results?",
    "What is the release date of the chip?",
    "What date did the partnership start?",
    "Who leads Google Cloud?",  # a person the article names, not its author
    "Who wrote ChatGPT?",
    "Who is the author of Harry Potter?",
    "What does the author say about TPUs?",
    "Who does the author think will win?",
    "What is the link between compute and AI?",
    "Which website does OpenAI use?",
    "Who runs the site?",
    "Where can I read more about TPUs?",
    "Where can I find the source code?",
    "What publication did OpenAI release in 2023?",
    "Where did OpenAI come from?",
])
def test_content_questions_are_not_about_the_document(question):
    assert document_field(question) == ""


# -- the answers ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "says"), [
    ("What is the link to the article?", "https://www.datacenters.com/news/"),
    ("Where can I read the original?", "https://www.datacenters.com/news/"),
    ("What outlet published this?", "published by datacenters.com"),  # the .json's outlet
    ("Who wrote the article?", "does not name its author"),
    ("Who is the author?", "does not name its author"),
    ("When was it published?", "does not give its publication date"),  # the .json has no date
])
def test_the_article_answers_from_its_metadata_citing_its_source_line(article_bot, question, says):
    answer = article_bot.ask(question)
    assert says in answer.text
    assert not answer.abstained
    assert [c.quote for c in answer.citations] == [SOURCE_LINE]
    assert check_citations(answer, article_bot.documents) == []


def test_the_link_is_shown_as_written(article_bot):
    # No period after the URL: it must stay clickable.
    assert article_bot.ask("What is the link to the article?").text.endswith(SOURCE_LINE + " [1]")


def test_an_author_or_date_question_retrieves_the_source_line_first(article_bot):
    article = article_bot.documents[0]
    line = article.field_blocks("meta")[-1]
    assert article.field_blocks("author") == article.field_blocks("date") == article.field_blocks("meta")
    for question, field in (("Who wrote the article?", "author"), ("When was it published?", "date")):
        first = article_bot.retriever.search(question, 3, field=field)[0]
        assert first.start <= line.start < first.end


NEWS = ("Chips Get Faster\n\nThe new chip runs twice as fast. It costs less.\n\n"
        "Makers plan a third chip next year.\n\n")


def _bot(tmp_path, doc: Document) -> Assistant:
    return Assistant.from_documents([doc], index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())


@pytest.mark.parametrize(("question", "says"), [
    ("Who wrote the article?", "written by Jane Roe"),
    ("Who is the author?", "written by Jane Roe"),
    ("When was it published?", "published on 2025-06-10"),
    ("What outlet published this?", "published by Chip Weekly"),
])
def test_metadata_the_document_gives_is_answered(tmp_path, question, says):
    doc = Document("news", NEWS + "Source: https://news.example/chips\n", title="Chips Get Faster",
                   source="https://news.example/chips",
                   metadata={"author": "Jane Roe", "date": "2025-06-10", "outlet": "Chip Weekly"})
    bot = _bot(tmp_path, doc)
    answer = bot.ask(question)
    assert says in answer.text and not answer.abstained
    assert [c.quote for c in answer.citations] == ["Source: https://news.example/chips"]
    assert check_citations(answer, bot.documents) == []


def test_without_a_source_line_what_is_missing_is_said_without_a_citation(tmp_path):
    bot = _bot(tmp_path, Document("news", NEWS, title="Chips Get Faster"))
    for question, says in (("Who is the author?", "does not name its author"),
                           ("When was it published?", "does not give its publication date"),
                           ("What is the link to the article?", "names neither its outlet nor a link")):
        answer = bot.ask(question)
        assert says in answer.text and answer.abstained and answer.citations == []
        assert check_citations(answer, bot.documents) == []


def test_without_a_source_line_what_is_known_cites_the_title(tmp_path):
    doc = Document("news", NEWS, title="Chips Get Faster", source="https://news.example/chips",
                   metadata={"author": ["Jane Roe", "Sam Poe"]})
    bot = _bot(tmp_path, doc)
    author = bot.ask("Who wrote the article?")
    assert "written by Jane Roe, Sam Poe" in author.text
    assert [c.quote for c in author.citations] == ["Chips Get Faster"]
    link = bot.ask("What is the link to the article?")
    assert "https://news.example/chips" in link.text and not link.abstained
    for answer in (author, link):
        assert check_citations(answer, bot.documents) == []


def test_a_file_path_is_not_a_link(tmp_path):
    path = tmp_path / "chips.txt"
    path.write_text(NEWS, encoding="utf-8")
    doc = load_file(path)
    assert doc.source.startswith("file:")
    answer = _bot(tmp_path, doc).ask("What is the link to the article?")
    assert answer.abstained and "file:" not in answer.text


def test_among_several_documents_the_answering_one_is_named(tmp_path):
    docs = [Document("news", NEWS + "Source: https://news.example/chips\n", title="Chips Get Faster"),
            Document("cats", "Cat Care Basics\n\nCats sleep for sixteen hours every day.\n", title="Cat Care Basics")]
    bot = Assistant.from_documents(docs, index_dir=tmp_path / "idx", embeddings=CountingEmbeddings())
    answer = bot.ask("Who wrote the article about chips?")
    assert answer.text.startswith("“Chips Get Faster” does not name its author.")
    assert check_citations(answer, bot.documents) == []
