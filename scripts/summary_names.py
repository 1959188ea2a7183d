"""How often an overview names what its article is about: before and after the overview prior.

Runs the extractive summary (4 sentences) over data it was not written for: the 15 SQuAD 2.0 dev
articles and the ClapNQ dev passages long enough to choose from (8+ sentences; the first 12
titles), indexed with the packaged MiniLM. It counts the chosen sentences that mention the
article's title entity (every content word of the title, stemmed), the summaries that mention it
at least once, and the summaries that quote the first body sentence, for:

  before       centrality, the linear lead prior and the leaning penalty (summary.py until 2026-12-06)
  names only   before + the main-actor share (one standard deviation of centrality)
  lead only    centrality + the harmonic lead prior (1/(1+i) standard deviations), no names
  after        summarize(): centrality + names + harmonic lead (summary.overview_prior)

    .venv/bin/python scripts/summary_names.py
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.chunking import Span, sentences  # noqa: E402
from assistant.documents import Document  # noqa: E402
from assistant.summary import (  # noqa: E402
    SENTENCES,
    central_sentences,
    centrality,
    main_names,
    mentions,
    summarize,
    summary_candidates,
)
from assistant.text import tokenize  # noqa: E402

BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
CLAPNQ_MIN_SENTENCES, CLAPNQ_DOCS = 8, 12


def squad() -> list[Document]:
    rows = [json.loads(line) for line in (BENCHMARKS / "squad2_dev15_articles.jsonl").open(encoding="utf-8")]
    return [Document(r["doc_id"], r["context"], title=r["title"].replace("_", " ")) for r in rows]


def clapnq() -> list[Document]:
    docs: dict[str, Document] = {}
    for line in (BENCHMARKS / "clapnq_dev.jsonl").open(encoding="utf-8"):
        r = json.loads(line)
        doc = Document(r["doc_id"], r["context"], title=r["title"])
        if r["title"] not in {d.title for d in docs.values()} and len(sentences(doc)) >= CLAPNQ_MIN_SENTENCES:
            docs[doc.id] = doc
        if len(docs) == CLAPNQ_DOCS:
            break
    return list(docs.values())


def mentions_title(sentence: str, title: str) -> bool:
    """Every content word of the title ("1973 oil crisis" -> 1973, oil, crisi) is in the sentence."""
    want = set(tokenize([re.sub(r"\(.*?\)", "", title)])[0])
    return bool(want) and want <= set(tokenize([sentence])[0])


def variants(bot: Assistant, doc: Document) -> dict[str, tuple[list[Span], Span]]:
    """Each setting's picks for one document, and its first body sentence."""
    spans = bot.index.spans(doc.id)
    body = summary_candidates(doc, spans.sentences)
    found = bot.index.sentence_vectors(body)
    cands = [s for s in body if s.id in found]
    vectors = np.array([found[s.id] for s in cands])
    spread = float(np.std(centrality(vectors)))
    names = main_names(doc, cands)
    named = spread * np.array([mentions(s.text, names) for s in cands])
    lead = spread / (1.0 + np.arange(len(cands)))
    picks = {
        "before": central_sentences(cands, vectors, SENTENCES),
        "names only": central_sentences(cands, vectors, SENTENCES, prior=named),
        "lead only": central_sentences(cands, vectors, SENTENCES, lead=0.0, prior=lead),
        "after": [s for s, _ in summarize(bot.index, doc.id)],
    }
    return {k: (v, cands[0]) for k, v in picks.items()}


def measure(name: str, docs: list[Document]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bot = Assistant.from_documents(docs, index_dir=Path(tmp) / "idx")
        runs = {d.id: variants(bot, d) for d in docs}
        chance = np.mean([np.mean([mentions_title(s.text, d.title) for s in summary_candidates(
            d, bot.index.spans(d.id).sentences)]) for d in docs])
    print(f"\n{name}: {len(docs)} documents; body sentences naming the title entity: {chance:.2f} (chance)")
    for setting in runs[docs[0].id]:
        hits = [mentions_title(s.text, d.title) for d in docs for s in runs[d.id][setting][0]]
        named = sum(any(mentions_title(s.text, d.title) for s in runs[d.id][setting][0]) for d in docs)
        lead = sum(runs[d.id][setting][1] in runs[d.id][setting][0] for d in docs)
        print(f"  {setting:11} chosen sentences naming it {sum(hits)}/{len(hits)} = {np.mean(hits):.2f}; "
              f"summaries naming it {named}/{len(docs)}; lead quoted {lead}/{len(docs)}")


if __name__ == "__main__":
    measure("SQuAD 2.0 dev (15 articles)", squad())
    measure(f"ClapNQ dev (first {CLAPNQ_DOCS} passages of {CLAPNQ_MIN_SENTENCES}+ sentences)", clapnq())
