"""Encoders through the CLI (tiny random BERT and RoBERTa masked-LMs and a bare BERT from
encoders.py): every explain mode shows full matrices and validates, predict fills each [MASK],
a sentence encoder refuses to predict words in one line, attribution says what it measures,
compare --word follows a word layer by layer, and a causal model given [MASK] is unchanged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch", reason="building the encoder models needs torch (pip install torch==2.13.0)")
pytest.importorskip("transformers", reason="building the encoder models needs transformers")

from helpers import encoders
from helpers.run_cli import assert_one_error_line, attn, ok
from helpers.schema import validate

TEXT = "I do not [MASK] spinach, we like it there"
PAIR = ("she sat on the river bank", "he took money from the bank")
MODES = {
    "table": [],
    "steps": ["--steps", "--layer", "-1"],
    "summary": ["--summary"],
    "attribution": ["--attribution"],
    "rollout": ["--rollout"],
    "heads": ["--head", "all", "--layer", "0"],
    "mean": ["--head", "mean"],
}


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    return lambda name: encoders.built(name, tmp_path_factory)


@pytest.fixture(scope="module")
def pooled(enc, tmp_path_factory):
    """The bare BERT as a sentence-transformers folder: 1_Pooling/config.json (mean) and modules.json (Normalize)."""
    folder = tmp_path_factory.mktemp("st") / "st"
    shutil.copytree(enc("bert").bare, folder)
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True,
                                                                  "pooling_mode_cls_token": False}))
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (folder / "modules.json").write_text(json.dumps(modules))
    return folder


@pytest.mark.parametrize("name,head", [("bert", "mlm"), ("roberta", "mlm"), ("bert", "bare")])
def test_every_mode_shows_full_matrices_and_validates(enc, name: str, head: str, tmp_path) -> None:
    b = enc(name)
    m = ["-m", str(b.mlm if head == "mlm" else b.bare), "--color", "never"]
    for mode, flags in MODES.items():
        out = ok(attn("runner", ["explain", TEXT, *m, *flags])).stdout
        assert out.strip(), mode
        if mode in ("table", "rollout", "heads", "mean"):
            assert "·" not in out, f"{mode}: a masked cell in an encoder's view"
        doc = ok(attn("runner", ["explain", TEXT, *m, *flags, "--json"])).json()
        validate(doc)
        assert doc["model"]["kind"] == "encoder"
        assert doc["tokens"][0]["special"] and doc["tokens"][-1]["special"], mode  # [CLS] ... [SEP], <s> ... </s>
        for layer in doc.get("attention", []):
            for h in layer["heads"]:
                assert all(x is not None for row in h["weights"] for x in row), "an encoder's weights hold no null"
    doc = ok(attn("runner", ["explain", TEXT, *m, "--json"])).json()
    assert doc["predictions"] == []
    if head == "mlm":  # the fillers of the one mask, as predict gives them
        (mask,) = [t["index"] for t in doc["tokens"] if t["token"].strip() in ("[MASK]", "<mask>")]
        assert [x["index"] for x in doc["masks"]] == [mask] and len(doc["masks"][0]["predictions"]) == 5
    else:
        assert "masks" not in doc
    table = ok(attn("runner", ["explain", TEXT, *m])).stdout
    assert "added before the text" in table and "added after the text" in table and "Nothing is masked" in table
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(f"{TEXT}\nThe cat sat on the mat.\n", encoding="utf-8")
    doc = ok(attn("runner", ["heads", str(corpus), *m, "--workers", "1", "--json"])).json()
    validate(doc)
    assert doc["corpus"]["texts"] == 2 and all(h["scores"]["induction"] is None for h in doc["heads"])


def test_the_walkthrough_says_nothing_is_masked_and_opens_on_the_mask(enc) -> None:
    b = enc("bert")
    m = ["-m", str(b.mlm)]
    out = ok(attn("runner", ["explain", TEXT, *m, "--steps"], env={"COLUMNS": "200"})).stdout
    assert "Nothing is masked" in out and "must not see it" in out and "future: hidden" not in out
    assert "Then: the masked-word prediction" in out
    doc = ok(attn("runner", ["explain", TEXT, *m, "--steps", "--json"])).json()
    mask = [t["index"] for t in doc["tokens"] if t["token"] == "[MASK]"]
    assert doc["query"]["index"] == mask[0]
    assert not any(doc["steps"]["scores"]["masked"])
    assert "blocks.0.ln1" not in doc["steps"]["embedding"] and "embed_norm" in doc["steps"]["embedding"]
    summary = ok(attn("runner", ["explain", TEXT, *m, "--summary", "--json"])).json()
    assert summary["query"]["index"] == mask[0]


def test_predict_fills_each_mask(enc) -> None:
    b = enc("roberta")
    m = ["-m", str(b.mlm)]
    out = ok(attn("runner", ["predict", "I do not [MASK] spinach, [MASK] we", *m, "-k", "3"])).stdout
    assert "Fillers for mask 1 of 2" in out and "Fillers for mask 2 of 2" in out
    doc = ok(attn("runner", ["predict", "I do not [MASK] spinach, [MASK] we", *m, "-k", "3", "--json"])).json()
    validate(doc)
    assert doc["predictions"] == [] and len(doc["masks"]) == 2
    from attncli.checkpoints import load

    model = load(b.mlm)
    ids = [t["id"] for t in doc["tokens"]]
    logits = model.forward(ids)["logits"]
    for mk in doc["masks"]:
        assert doc["tokens"][mk["index"]]["id"] == model.tokenizer.mask_id  # [MASK], read as RoBERTa's <mask>
        assert [p["id"] for p in mk["predictions"]] == [int(i) for i in np.argsort(-logits[mk["index"]], kind="stable")[:3]]
    lines = ok(attn("runner", ["predict", *m, "--json"], input="the [MASK] sat\nI do [MASK]\n")).json_lines()
    assert [len(d["masks"]) for d in lines] == [1, 1]
    for d in lines:
        validate(d)


@pytest.mark.parametrize("args,words", [
    (["I do not like spinach"], "put [MASK] where a word is missing"),
    (["I do [MASK]", "-g", "2"], "--generate"),
])
def test_a_masked_lm_refuses_what_it_cannot_do(enc, args, words) -> None:
    run = attn("runner", ["predict", *args, "-m", str(enc("bert").mlm)])
    assert run.code == 2 and run.stdout == "" and words in assert_one_error_line(run)


@pytest.mark.parametrize("how", ["runner", "process"])
def test_a_sentence_encoder_cannot_predict_words_and_says_why(enc, how) -> None:
    run = attn(how, ["predict", "I do [MASK]", "-m", str(enc("bert").bare)])
    assert run.code == 2 and run.stdout == ""
    msg = assert_one_error_line(run)
    assert "cannot predict words" in msg and "no vocabulary head" in msg


def test_attribution_says_what_it_measures(enc, pooled) -> None:
    doc = ok(attn("runner", ["explain", TEXT, "-m", str(enc("bert").mlm), "--attribution", "--json"])).json()
    validate(doc)
    mask = [t["index"] for t in doc["tokens"] if t["token"] == "[MASK]"][0]
    assert doc["measure"] == "probability" and doc["position"] == mask
    assert mask not in [r["index"] for r in doc["ranking"]] and len(doc["ranking"]) == len(doc["tokens"]) - 1
    out = ok(attn("runner", ["explain", TEXT, "-m", str(enc("bert").mlm), "--attribution"])).stdout
    assert "the mask's top filler" in out
    doc = ok(attn("runner", ["explain", "she sat on the river bank", "-m", str(pooled), "--attribution", "--json"])).json()
    validate(doc)
    assert doc["measure"] == "embedding" and doc["target"] is None and "mean pooling" in doc["method"]
    assert all(0 <= r["delta"] <= 2 for r in doc["ranking"])
    run = attn("runner", ["explain", "no mask here", "-m", str(enc("bert").mlm), "--attribution"])
    assert run.code == 2 and "put [MASK] in the text" in assert_one_error_line(run)


def test_compare_word_follows_the_word_layer_by_layer(enc, pooled) -> None:
    from attncli.analysis.compare import cosine_distance
    from attncli.checkpoints import load

    doc = ok(attn("runner", ["compare", *PAIR, "-m", str(pooled), "--word", "bank", "--json"])).json()
    validate(doc)
    w = doc["word"]
    assert w["control"]["word"] == "the"  # a word of both texts, chosen for it
    assert [x["name"] for x in w["layers"]] == ["blocks.0.resid_pre", "blocks.0.ln_out", "blocks.1.ln_out"]
    model = load(pooled)
    ta, tb = (model.forward([t["id"] for t in doc[s]["tokens"]]) for s in "ab")
    for x in w["layers"]:
        va = ta[x["name"]][w["a"]].astype(np.float64).mean(axis=0, keepdims=True)
        vb = tb[x["name"]][w["b"]].astype(np.float64).mean(axis=0, keepdims=True)
        expected_distance = float(cosine_distance(va, vb)[0])  # the document holds it rounded to float32
        assert abs(x["distance"] - expected_distance) <= np.spacing(np.float32(expected_distance))
    from attncli.analysis.embedding import cosine_similarity, sentence_embedding

    pooling = model.card["sentence_embedding"]
    expected = cosine_similarity(sentence_embedding(ta, pooling), sentence_embedding(tb, pooling))
    assert abs(doc["sentence_embedding"]["cosine_similarity"] - expected) <= np.spacing(np.float32(expected))
    out = ok(attn("runner", ["compare", *PAIR, "-m", str(pooled), "--word", "bank", "--control", "the"],
                  env={"COLUMNS": "160"})).stdout
    assert "Meaning in context" in out and '"the" (control)' in out and "Sentence embeddings: cosine similarity" in out
    run = attn("runner", ["compare", *PAIR, "-m", str(pooled), "--word", "money"])
    assert run.code == 2 and "not a word of A" in assert_one_error_line(run)


def test_compare_word_on_a_causal_model(tmp_path) -> None:
    doc = ok(attn("runner", ["compare", *PAIR, "--word", "bank", "--json"])).json()
    validate(doc)
    assert len(doc["word"]["layers"]) == doc["model"]["n_layer"] + 1 and "sentence_embedding" not in doc
    assert doc["predictions"] and doc["predictions_at"] == "next"


def test_a_causal_model_given_mask_predicts_the_next_token() -> None:
    doc = ok(attn("runner", ["predict", "I do not [MASK]", "--json"])).json()
    assert doc["predictions"] and "masks" not in doc and doc["model"]["kind"] == "causal"


def test_truncate_keeps_the_template(enc) -> None:
    m = ["-m", str(enc("bert").mlm)]
    long = " ".join(["we like tea"] * 40)
    run = attn("runner", ["predict", long + " [MASK]", *m])
    assert run.code == 2 and "at most 62" in assert_one_error_line(run)  # 64 positions less [CLS] and [SEP]
    doc = ok(attn("runner", ["predict", long + " [MASK]", *m, "--truncate", "--json"])).json()
    assert len(doc["tokens"]) == 64 and doc["truncated"]
    assert doc["tokens"][0]["token"] == "[CLS]" and doc["tokens"][-1]["token"] == "[SEP]"


def test_info_and_models_list_say_causal_or_encoder(enc, pooled) -> None:
    doc = ok(attn("runner", ["info", "-m", str(enc("bert").mlm), "--json"])).json()
    validate(doc)
    assert doc["info"]["kind"] == "encoder" and doc["info"]["head"] == "masked-lm"
    doc = ok(attn("runner", ["info", "-m", str(pooled), "--json"])).json()
    assert doc["info"]["head"] == "sentence-embedding" and doc["info"]["card"]["sentence_embedding"]["pooling"] == "mean"
    out = ok(attn("runner", ["info", "-m", str(pooled)], env={"COLUMNS": "200"})).stdout
    assert "An encoder (like BERT)" in out and "sentence embedding" in out
    assert "A causal language model" in ok(attn("runner", ["info"], env={"COLUMNS": "200"})).stdout
    doc = ok(attn("runner", ["models", "list", "--json"])).json()
    validate(doc)
    assert {m["name"]: m["kind"] for m in doc["models"]}["minilm"] == "encoder"
    assert {m["name"]: m["kind"] for m in doc["models"]}["smollm2"] == "causal"


def test_files_for_an_encoder(enc, tmp_path) -> None:
    m = ["-m", str(enc("bert").mlm)]
    page = tmp_path / "view.html"
    ok_run = attn("runner", ["explain", TEXT, *m, "--html", str(page)])
    assert ok_run.code == 0
    html = page.read_text()
    assert '"encoder": true' in html and "Masked-word predictions" in html
    pytest.importorskip("matplotlib", reason="--save needs matplotlib")
    png = tmp_path / "heads.svg"
    assert attn("runner", ["explain", TEXT, *m, "--save", str(png)]).code == 0
    assert "nothing masked" in png.read_text()


def test_a_native_encoder_reads_its_tokenizers_template(enc, tmp_path, make_params) -> None:
    """attncli's own format (the bundled masked-LM's): an encoder config puts tokenizer.json's
    [CLS] ... [SEP] around the text and reads [MASK] as its mask token."""
    from attncli.checkpoints import load, native
    from attncli.config import ModelConfig

    tokenizer_json = (enc("bert").mlm / "tokenizer.json").read_text()
    cfg = ModelConfig(vocab_size=encoders.VOCAB, n_layer=1, n_head=2, d_model=8, n_ctx=16, causal=False,
                      block_norm="post", embed_norm=True, head="mlm", activation="gelu")
    native.save(tmp_path / "m", cfg, make_params(cfg), tokenizer_json, name="tiny-mlm")
    model = load(tmp_path / "m")
    tokens, _ = model.encode("I do [MASK]")
    assert [t.token for t in tokens] == ["[CLS]", "i", "do", "[MASK]", "[SEP]"]
    doc = ok(attn("runner", ["predict", "I do [MASK]", "-m", str(tmp_path / "m"), "--json"])).json()
    assert [m["index"] for m in doc["masks"]] == [3]


@pytest.mark.parametrize("which", ["mlm", "bare"])
def test_eval_refuses_an_encoder_in_one_line(enc, tmp_path, which) -> None:
    text = tmp_path / "t.txt"
    text.write_text("she sat on the river bank. he took money from the bank.\n")
    b = enc("bert")
    if which == "mlm":  # a masked-LM is scored on masked tokens (its default objective); never on the next token
        scored = ok(attn("runner", ["eval", str(text), "-m", str(b.mlm)]))
        assert "masked token" in scored.stdout and "top-1 accuracy" in scored.stdout
        run = attn("runner", ["eval", str(text), "-m", str(b.mlm), "--objective", "causal"])
        says = "measure it on masked tokens with --objective mlm"
    else:
        run = attn("runner", ["eval", str(text), "-m", str(b.bare)])
        says = "encoder without a language-model head; attn eval cannot score it"
    assert run.code == 2 and run.stdout == "" and says in assert_one_error_line(run)
