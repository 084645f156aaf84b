"""render.json_doc.dump: the streamed JSON of long inputs is the same text json.dumps would write (of
the document with its floats written as float32's shortest decimals), and a NaN is refused before
anything is written."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncli.render.json_doc import Rows, dump, explain_doc, short
from attncli.views import head_view


def dumped(doc) -> str:
    parts: list[str] = []
    dump(doc, parts.append)
    return "".join(parts)


def test_streamed_explain_is_the_plain_document(tiny_model):
    toks, _ = tiny_model.encode("the cat sat on the mat")
    trace = tiny_model.forward([t.id for t in toks])
    view, preds = head_view(trace, 0, 0), tiny_model.predict(trace, 3)
    plain = explain_doc(tiny_model, "the cat sat on the mat", toks, trace, view, preds)
    streamed = explain_doc(tiny_model, "the cat sat on the mat", toks, trace, view, preds, stream=True)
    assert dumped(streamed) == json.dumps(short(plain), allow_nan=False, ensure_ascii=False)


def test_rows_write_null_where_masked():
    a = np.array([[0.5, 7.0], [0.25, 0.75]], dtype=np.float32)
    masked = np.array([[False, True], [False, False]])
    assert json.loads(dumped({"m": Rows(a, masked)})) == {"m": [[0.5, None], [0.25, 0.75]]}


def test_nan_is_refused_before_a_byte_is_written():
    parts: list[str] = []
    a = np.array([[0.5, np.nan]], dtype=np.float32)
    with pytest.raises(ValueError):
        dump({"head": 0, "m": Rows(a, np.zeros((1, 2), bool))}, parts.append)
    assert parts == []
    # a NaN under the mask is never written, so it is no error
    assert json.loads(dumped({"m": Rows(a, np.array([[False, True]]))})) == {"m": [[0.5, None]]}
