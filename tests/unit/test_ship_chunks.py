"""The compiled shipper's chunking (`_Chunks`): every document once, in order, whole, each chunk
within chunk_docs and (past its first document) chunk_bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dirsrvbeat.access.ship_native import _Chunks

line = st.binary(min_size=0, max_size=120).map(lambda b: b.replace(b"\n", b"x"))


@settings(max_examples=300, deadline=None)
@given(per_doc=st.sampled_from([1, 2]), chunk_docs=st.integers(1, 40), chunk_bytes=st.integers(1, 2000),
       compact_after=st.sampled_from([0, 3, 65536]),
       feeds=st.lists(st.lists(st.lists(line, min_size=2, max_size=2), max_size=30), min_size=1, max_size=20))
def test_chunks_keep_every_document_whole_in_order_within_limits(per_doc, chunk_docs, chunk_bytes, compact_after,
                                                                  feeds):
    chunks = _Chunks(per_doc, chunk_docs, chunk_bytes)
    chunks.compact_after = compact_after
    sent: list[list[bytes]] = []
    fed: list[list[bytes]] = []

    def take() -> None:
        lines, n = chunks.take()
        assert n >= 1 and len(lines) == n * per_doc and n <= chunk_docs
        assert n == 1 or sum(len(x) + 1 for x in lines) <= chunk_bytes
        sent.extend(lines[k:k + per_doc] for k in range(0, len(lines), per_doc))

    for feed in feeds:
        docs = [d[:per_doc] for d in feed]
        fed.extend(docs)
        assert chunks.add(b"".join(x + b"\n" for d in docs for x in d)) == len(docs)
        while chunks.full():
            take()
    while chunks.docs:
        take()
    assert sent == fed
    assert chunks.bytes == 0 and chunks.take() == ([], 0)
