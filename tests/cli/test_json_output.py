"""--json: one document on stdout (JSON Lines for the stdin stream), valid against the schema,
masked cells null, and numbers equal to an attention computed here from scratch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from attncli.checkpoints import load
from helpers.references import hf_encode, naive_forward, read_model, softmax64
from helpers.run_cli import HOWS, Call, Run, attn_all, ok
from helpers.schema import schema, validate
from helpers.tolerances import forward_relative_error

TEXT = "I do not like spinach"
LONG = " ".join([TEXT] * 4)
UNICODE = "naïve café ☕ — 日本"


def calls(kd, td) -> dict[str, Call]:
    k, t = ["-m", str(kd)], ["-m", str(td)]
    return {
        "explain-known": Call(["explain", TEXT, *k, "--json"]),
        "explain-known-mean": Call(["explain", TEXT, *k, "--json", "--head", "mean", "--layer", "-1"]),
        "explain-random": Call(["explain", TEXT, *t, "--json", "--layer", "1", "--head", "1", "--top-k", "3"]),
        "explain-random-mean": Call(["explain", TEXT, *t, "--json", "--head", "mean"]),
        "explain-truncate": Call(["explain", LONG, *k, "--json", "--truncate"]),
        "explain-unicode": Call(["explain", UNICODE, *t, "--json"]),
        "explain-bundled": Call(["explain", TEXT, "--json"]),
        # texts the random model does not end at once (it likes <|endoftext|>, where generation stops)
        "predict-sampled": Call(["predict", "hello world", *t, "--json", "-g", "3", "-t", "0.7", "--seed", "1"]),
        "predict-stream": Call(["predict", *t, "--json", "--generate", "1"],
                               input=b"hello world\n\nthe dog\na b c d\n"),
        "info": Call(["info", *k, "--json"]),
    }


@pytest.fixture(scope="module", params=HOWS)
def runs(request, known, tiny_model_dir) -> dict[str, Run]:
    return attn_all(request.param, calls(known.path, tiny_model_dir))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    s = schema()
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(s)


def test_every_document_is_alone_on_stdout_and_valid(runs):
    for name, run in runs.items():
        ok(run)
        docs = run.json_lines()
        if name != "predict-stream":
            assert len(docs) == 1 and run.stdout.count("\n") == 1, name  # one document, one line
            assert run.json() == docs[0]
        for doc in docs:
            validate(doc)
            assert doc["schema_version"] == "1.0"
            assert doc["command"] == name.split("-")[0]


def test_the_schema_rejects_what_it_should(runs):
    doc = runs["explain-known"].json()
    bad = dict(doc, attention=[{"layer": 0, "heads": [{"head": 0, "scores": [[float("nan")]], "weights": [["x"]]}]}])
    assert not Draft202012Validator(schema()).is_valid(bad)
    assert not Draft202012Validator(schema()).is_valid({**doc, "schema_version": "0.9"})
    assert not Draft202012Validator(schema()).is_valid({k: v for k, v in doc.items() if k != "predictions"})


def test_tokens_are_the_tokenizers(runs, known, tiny_model_dir):
    for name, path, text in (("explain-known", known.path, TEXT), ("explain-unicode", tiny_model_dir, UNICODE)):
        doc = runs[name].json()
        ids, toks = hf_encode(path, text)
        assert doc["text"] == text
        assert [t["id"] for t in doc["tokens"]] == ids
        assert [t["token"] for t in doc["tokens"]] == toks
        assert [t["index"] for t in doc["tokens"]] == list(range(len(ids)))
        assert doc["truncated"] is False


def test_masked_cells_are_null_exactly_after_the_query(runs):
    for name in ("explain-known", "explain-random", "explain-bundled"):
        doc = runs[name].json()
        T = len(doc["tokens"])
        assert doc["attention"], name
        for layer in doc["attention"]:
            for head in layer["heads"]:
                for what in ("scores", "weights"):
                    m = head[what]
                    assert len(m) == T and all(len(row) == T for row in m)
                    for q in range(T):
                        for k in range(T):
                            assert (m[q][k] is None) == (k > q), (name, layer["layer"], head["head"], what, q, k)


def test_rows_of_weights_sum_to_one(runs):
    for name in ("explain-known", "explain-random", "explain-bundled"):
        for layer in runs[name].json()["attention"]:
            for head in layer["heads"]:
                for row in head["weights"]:
                    visible = [w for w in row if w is not None]
                    assert all(0 <= w <= 1 for w in visible)
                    assert math.isclose(sum(visible), 1.0, abs_tol=1e-5)


def test_known_model_numbers(runs, known):
    doc = runs["explain-known"].json()
    rtol = forward_relative_error(load(known.path).config, len(doc["tokens"]))  # float32's rounding, derived
    assert doc["view"] == {"layer": 0, "head": 0}
    assert [layer["layer"] for layer in doc["attention"]] == [0, 1]
    for layer in doc["attention"]:
        assert [h["head"] for h in layer["heads"]] == [0, 1]
        for h in layer["heads"]:
            want = known.scores[(layer["layer"], h["head"])]
            for q, (srow, wrow) in enumerate(zip(h["scores"], h["weights"])):
                np.testing.assert_allclose(srow[:q + 1], want, rtol=rtol)
                np.testing.assert_allclose(wrow[:q + 1], 1 / (q + 1), rtol=rtol)
    cv = doc["contextual_vectors"]
    assert (cv["name"], cv["layer"], cv["head"]) == ("blocks.0.attn.z", 0, 0)
    zmax = float(np.abs(known.z_rows[0]).max())
    np.testing.assert_allclose(cv["vectors"], [known.z_rows[0]] * len(doc["tokens"]), atol=rtol * zmax)
    np.testing.assert_allclose(cv["norms"], np.linalg.norm(known.z_rows[0]), rtol=rtol)
    p = softmax64(known.logits)
    assert [x["id"] for x in doc["predictions"][:2]] == [known.target, known.runner_up]
    want_p = p[[known.target, known.runner_up]]
    np.testing.assert_allclose([x["probability"] for x in doc["predictions"][:2]], want_p, rtol=rtol)
    np.testing.assert_allclose(doc["predictions"][0]["logit"], 40.0, rtol=rtol)


def test_known_model_mean_view(runs, known):
    doc = runs["explain-known-mean"].json()
    assert doc["view"] == {"layer": 1, "head": "mean"}
    cv = doc["contextual_vectors"]
    assert (cv["name"], cv["layer"], cv["head"]) == ("blocks.1.attn.out", 1, "mean")
    np.testing.assert_allclose(cv["vectors"], [known.attn_out[1]] * len(doc["tokens"]), atol=1e-6)


def test_random_model_numbers_equal_a_naive_forward(runs, tiny_model_dir):
    doc = runs["explain-random"].json()
    ids = [t["id"] for t in doc["tokens"]]
    ref = naive_forward(*read_model(tiny_model_dir), ids)
    for layer in doc["attention"]:
        L = layer["layer"]
        for h in layer["heads"]:
            S = np.array([[np.nan if x is None else x for x in row] for row in h["scores"]])
            W = np.array([[np.nan if x is None else x for x in row] for row in h["weights"]])
            np.testing.assert_allclose(S, ref.scores[L][h["head"]], atol=1e-4, equal_nan=True)
            np.testing.assert_allclose(W, ref.weights[L][h["head"]], atol=1e-5, equal_nan=True)
    cv = doc["contextual_vectors"]
    assert (cv["name"], cv["layer"], cv["head"]) == ("blocks.1.attn.z", 1, 1)
    np.testing.assert_allclose(cv["vectors"], ref.z[1][1], atol=1e-4)
    np.testing.assert_allclose(cv["norms"], np.linalg.norm(ref.z[1][1], axis=1), atol=1e-4)
    p = softmax64(ref.logits[-1])
    want = list(np.argsort(-p)[:3])
    assert [x["id"] for x in doc["predictions"]] == want
    np.testing.assert_allclose([x["probability"] for x in doc["predictions"]], p[want], rtol=1e-4)
    np.testing.assert_allclose([x["logit"] for x in doc["predictions"]], ref.logits[-1][want], atol=1e-4)


def test_weights_equal_attention_recomputed_from_the_models_own_q_and_k(runs, tiny_model_dir):
    """The JSON's scores and weights against q.k/sqrt(dh) and a softmax done here, from the trace's q and k."""
    from attncli.checkpoints import load

    doc = runs["explain-random-mean"].json()
    model = load(tiny_model_dir)
    trace = model.forward([t["id"] for t in doc["tokens"]])
    for layer in doc["attention"]:
        q, k = trace[f"blocks.{layer['layer']}.attn.q"], trace[f"blocks.{layer['layer']}.attn.k"]  # [H, T, dh]
        dh = q.shape[-1]
        for h in layer["heads"]:
            for i in range(q.shape[1]):
                s = [float(np.dot(q[h["head"], i], k[h["head"], j])) / math.sqrt(dh) for j in range(i + 1)]
                e = [math.exp(x - max(s)) for x in s]
                np.testing.assert_allclose(h["scores"][i][:i + 1], s, atol=1e-5)
                np.testing.assert_allclose(h["weights"][i][:i + 1], [x / sum(e) for x in e], atol=1e-6)
    ref = naive_forward(*read_model(tiny_model_dir), [t["id"] for t in doc["tokens"]])
    np.testing.assert_allclose(doc["contextual_vectors"]["vectors"], ref.attn_out[0], atol=1e-4)  # head mean: attn.out


def test_truncated_is_reported(runs, known):
    doc = runs["explain-truncate"].json()
    assert doc["truncated"] is True
    assert doc["text"] == LONG
    assert [t["id"] for t in doc["tokens"]] == hf_encode(known.path, LONG)[0][-known.n_ctx:]
    assert [t["index"] for t in doc["tokens"]] == list(range(known.n_ctx))
    assert all(len(h["weights"]) == known.n_ctx for layer in doc["attention"] for h in layer["heads"])


def test_bundled_explain_covers_every_layer_and_head(runs):
    doc = runs["explain-bundled"].json()
    assert [(layer["layer"], len(layer["heads"])) for layer in doc["attention"]] == [(0, 4), (1, 4)]


def test_predict_documents(runs, tiny_model_dir):
    doc = runs["predict-sampled"].json()
    assert len(doc["predictions"]) == 5  # the default --top-k
    ref = naive_forward(*read_model(tiny_model_dir), [t["id"] for t in doc["tokens"]])
    p = softmax64(ref.logits[-1])
    np.testing.assert_allclose([x["probability"] for x in doc["predictions"]], np.sort(p)[::-1][:5], rtol=1e-4)
    gen = doc["generated"]
    assert (gen["sampling"], gen["temperature"], gen["seed"], len(gen["ids"])) == ("temperature", 0.7, 1, 3)


def test_predict_stream_is_json_lines(runs):
    run = runs["predict-stream"]
    lines = run.stdout.splitlines()
    assert all(line.strip() for line in lines)  # the blank input line gives no output line
    docs = run.json_lines()
    assert [d["text"] for d in docs] == ["hello world", "the dog", "a b c d"]
    assert all(len(d["generated"]["ids"]) == 1 and d["generated"]["sampling"] == "greedy" for d in docs)


def test_info_documents(runs, known):
    doc = runs["info"].json()
    info = doc["info"]
    assert (info["name"], info["n_layer"], info["n_head"], info["d_model"], info["context_length"]) == ("known", 2, 2, 16, 16)
    assert doc["model"]["source"] == info["source"] == str(known.path)
