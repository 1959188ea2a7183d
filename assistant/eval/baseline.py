"""The naive LangChain pipeline every external runner compares the assistant with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..documents import Document


def uncached(embeddings):
    """The same model without the assistant's shared query cache: a baseline embeds its own queries."""
    return embeddings.without_cache() if hasattr(embeddings, "without_cache") else embeddings


class NaiveBaseline:
    """RecursiveCharacterTextSplitter(1000, 200) + the same MiniLM + Chroma similarity_search(k=4)."""

    def __init__(self, docs: list[Document], embeddings, persist_dir: Path) -> None:
        from langchain_chroma import Chroma
        from langchain_core.documents import Document as LCDocument
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        pieces = splitter.split_documents(
            [LCDocument(page_content=d.text, metadata={"doc_id": d.id}) for d in docs])
        self.store = Chroma(collection_name="naive", embedding_function=embeddings,
                            persist_directory=str(persist_dir))
        self.store.add_documents(pieces)

    def search(self, query: str, k: int = 4) -> list[dict[str, Any]]:
        """The top k chunks as dicts with doc_id, start, end, text."""
        return [
            {"doc_id": d.metadata["doc_id"], "start": d.metadata["start_index"],
             "end": d.metadata["start_index"] + len(d.page_content), "text": d.page_content}
            for d in self.store.similarity_search(query, k=k)
        ]
