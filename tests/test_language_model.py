"""Tests of the language plugin's model side: attention, positional encodings, blocks, TinyGPT."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from plugins.language.attention import MultiHeadAttention
from plugins.language.model import TinyGPT, TinyGPTConfig, sample_next
from plugins.language.positional import PositionalEncoding, sinusoidal_table
from plugins.language.tokenizers import CharTokenizer
from plugins.language.transformer import TransformerBlock
from tinytorch_core import Tensor, default_dtype, manual_seed
from tinytorch_core import functional as F
from tinytorch_core.gradcheck import gradcheck
from tinytorch_core.nn import Dense, ReLU, Sequential
from tinytorch_core.serialization import save as save_tensors

Array = np.ndarray[Any, Any]


def _input(shape: tuple[int, ...], seed: int = 1) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True, dtype=np.float64)


def _tiny_gpt(seed: int = 0, **overrides: Any) -> TinyGPT:
    manual_seed(seed)
    config: dict[str, Any] = dict(vocab_size=7, d_model=8, num_layers=2, num_heads=2, block_size=5)
    config.update(overrides)
    return TinyGPT(**config)


def _naive_attention(x: Array, attn: MultiHeadAttention, causal: bool, mask: Array | None) -> tuple[Array, Array]:
    """Per-head loop reference in float64: returns (output, weights)."""
    assert attn.qkv.bias is not None and attn.proj.bias is not None
    w_qkv = attn.qkv.weight.data.astype(np.float64)
    b_qkv = attn.qkv.bias.data.astype(np.float64)
    qkv = x @ w_qkv.T + b_qkv
    d, h = attn.d_model, attn.num_heads
    hd = d // h
    batch, steps, _ = x.shape
    heads_out = np.zeros((batch, steps, d))
    weights = np.zeros((batch, h, steps, steps))
    for b in range(batch):
        for head in range(h):
            q = qkv[b, :, head * hd:(head + 1) * hd]
            k = qkv[b, :, d + head * hd:d + (head + 1) * hd]
            v = qkv[b, :, 2 * d + head * hd:2 * d + (head + 1) * hd]
            s = q @ k.T / math.sqrt(hd)
            allowed = np.ones((steps, steps), dtype=bool)
            if causal:
                allowed &= np.tril(np.ones((steps, steps), dtype=bool))
            if mask is not None:
                allowed &= mask[b][None, :]
            s = np.where(allowed, s, -np.inf)
            p = np.zeros_like(s)
            for i in range(steps):
                if allowed[i].any():
                    e = np.exp(s[i] - s[i][allowed[i]].max())
                    p[i] = e / e.sum()
            weights[b, head] = p
            heads_out[b, :, head * hd:(head + 1) * hd] = p @ v
    out = heads_out @ attn.proj.weight.data.astype(np.float64).T + attn.proj.bias.data.astype(np.float64)
    return out, weights


# ---------------------------------------------------------------------------- attention
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("with_mask", [False, True])
def test_attention_gradcheck(causal: bool, with_mask: bool) -> None:
    manual_seed(0)
    with default_dtype(np.float64):
        attn = MultiHeadAttention(8, 2, causal=causal)
    x = _input((2, 5, 8))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool) if with_mask else None
    assert gradcheck(lambda: attn(x, padding_mask=mask), [x, *attn.parameters()])


@pytest.mark.parametrize("causal", [True, False])
def test_attention_matches_naive_per_head_reference(causal: bool) -> None:
    manual_seed(3)
    with default_dtype(np.float64):
        attn = MultiHeadAttention(12, 3, causal=causal)
    x = np.random.default_rng(2).standard_normal((3, 6, 12))
    mask = np.array([[1] * 6, [1, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1]], dtype=bool)
    for m in (None, mask):
        out, weights = attn(Tensor(x, dtype=np.float64), padding_mask=m, return_attention=True)
        ref_out, ref_weights = _naive_attention(x, attn, causal, m)
        np.testing.assert_allclose(out.data, ref_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(weights, ref_weights, rtol=1e-10, atol=1e-12)
        assert attn.last_attention is weights


def test_attention_float32_matches_reference_and_weights_are_distributions() -> None:
    manual_seed(4)
    attn = MultiHeadAttention(16, 4)
    x = np.random.default_rng(5).standard_normal((2, 7, 16)).astype(np.float32)
    out, weights = attn(Tensor(x), return_attention=True)
    assert out.dtype == np.float32 and weights.dtype == np.float32
    ref_out, _ = _naive_attention(x.astype(np.float64), attn, True, None)
    np.testing.assert_allclose(out.data, ref_out, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(weights[..., np.triu_indices(7, k=1)[0], np.triu_indices(7, k=1)[1]] == 0.0)
    # not uniform: a causal mask that made attention uniform was a bug of the course's version
    assert not np.allclose(weights[:, :, -1, :], 1.0 / 7, atol=1e-3)


def test_attention_survives_huge_score_spread_and_fully_masked_rows() -> None:
    manual_seed(6)
    with default_dtype(np.float64):
        attn = MultiHeadAttention(4, 1, causal=True)
    x = np.random.default_rng(0).standard_normal((2, 4, 4)) * 400.0  # scores far apart: global shift underflows rows
    mask = np.array([[1, 1, 1, 1], [0, 0, 1, 1]], dtype=bool)  # rows 0-1 of batch 1 see no real key
    out, weights = attn(Tensor(x, dtype=np.float64), padding_mask=mask, return_attention=True)
    ref_out, ref_weights = _naive_attention(x, attn, True, mask)
    assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(weights, ref_weights, atol=1e-12)
    np.testing.assert_allclose(out.data, ref_out, rtol=1e-9, atol=1e-9)
    assert np.all(weights[1, :, :2, :] == 0.0)


def test_attention_errors() -> None:
    with pytest.raises(ValueError, match="d_model=10.*num_heads=3"):
        MultiHeadAttention(10, 3)
    attn = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match="expected input"):
        attn(Tensor(np.zeros((2, 3, 6))))
    with pytest.raises(ValueError, match="padding_mask must have shape"):
        attn(Tensor(np.zeros((2, 3, 8))), padding_mask=np.ones((2, 4), dtype=bool))


def test_attention_dropout_only_in_training() -> None:
    manual_seed(0)
    attn = MultiHeadAttention(8, 2, dropout=0.5)
    x = Tensor(np.random.default_rng(0).standard_normal((2, 5, 8)))
    a, b = attn(x).data, attn(x).data
    assert not np.array_equal(a, b)
    attn.eval()
    np.testing.assert_array_equal(attn(x).data, attn(x).data)


# ---------------------------------------------------------------------------- positional encodings
def test_positional_learned_and_sinusoidal() -> None:
    manual_seed(0)
    learned = PositionalEncoding(6, 4)
    assert learned.weight.shape == (6, 4) and abs(float(learned.weight.data.std()) - 0.02) < 0.015
    np.testing.assert_array_equal(learned(3, offset=2).data, learned.weight.data[2:5])
    sin = PositionalEncoding(6, 4, kind="sinusoidal")
    assert list(dict(sin.named_parameters())) == []
    table = sin(6).data
    pos = np.arange(6)[:, None]
    np.testing.assert_allclose(table[:, 0], np.sin(pos[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(table[:, 1], np.cos(pos[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(table[:, 2], np.sin(pos[:, 0] / 100.0), rtol=1e-6)
    np.testing.assert_allclose(sinusoidal_table(6, 5)[:, 4], np.sin(pos[:, 0] / 10000 ** (4 / 5)))
    x = Tensor(np.ones((2, 3, 4)))
    np.testing.assert_allclose(sin(x).data, np.broadcast_to(1.0 + table[:3], (2, 3, 4)), rtol=1e-6)
    with pytest.raises(ValueError, match="block_size=6.*length 7"):
        learned(7)
    with pytest.raises(ValueError, match="kind must be one of"):
        PositionalEncoding(6, 4, kind="rotary")


def test_positional_gradcheck() -> None:
    with default_dtype(np.float64):
        pe = PositionalEncoding(5, 3)
    x = _input((2, 4, 3))
    assert gradcheck(lambda: pe(x) * pe(4, offset=1), [x, pe.weight])


# ---------------------------------------------------------------------------- transformer block
def test_transformer_block_gradcheck() -> None:
    manual_seed(1)
    with default_dtype(np.float64):
        block = TransformerBlock(8, 2)
    x = _input((2, 4, 8))
    assert gradcheck(lambda: block(x), [x, *block.parameters()])


def test_transformer_block_composed_form_and_residual_structure() -> None:
    manual_seed(2)
    with default_dtype(np.float64):
        block = TransformerBlock(
            attention=MultiHeadAttention(16, 4),
            feedforward=Sequential([Dense(16, 32), ReLU(), Dense(32, 16)]),
        )
    assert block.d_model == 16
    x = _input((2, 3, 16))
    assert gradcheck(lambda: block(x), [x])
    # pre-LN residual form computed by hand from the submodules
    h = x.data + block.attention(block.ln1(x)).data
    expected = h + block.feedforward(block.ln2(Tensor(h, dtype=np.float64))).data
    np.testing.assert_allclose(block(x).data, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="needs d_model and num_heads"):
        TransformerBlock()
    with pytest.raises(ValueError, match="d_model=8 but the attention module has d_model=16"):
        TransformerBlock(8, attention=MultiHeadAttention(16, 4))


# ---------------------------------------------------------------------------- TinyGPT
def test_tinygpt_parameter_names_shapes_and_init() -> None:
    manual_seed(0)
    model = TinyGPT(vocab_size=65, d_model=32, num_layers=4, num_heads=4, block_size=16)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes["token_embedding.weight"] == (65, 32)
    assert shapes["position.weight"] == (16, 32)
    assert shapes["blocks.3.attention.qkv.weight"] == (96, 32)
    assert shapes["blocks.0.attention.proj.weight"] == (32, 32)
    assert shapes["blocks.2.feedforward.0.weight"] == (128, 32)
    assert shapes["blocks.2.feedforward.2.weight"] == (32, 128)
    assert shapes["ln_f.bias"] == (32,)
    assert "lm_head.weight" not in shapes and len(shapes) == 2 + 4 * 12 + 2
    params = dict(model.named_parameters())
    assert abs(float(params["blocks.0.attention.qkv.weight"].data.std()) - 0.02) < 0.002
    assert abs(float(params["blocks.0.attention.proj.weight"].data.std()) - 0.02 / math.sqrt(8)) < 0.001
    assert np.all(params["blocks.1.feedforward.0.bias"].data == 0.0)
    assert all(p.dtype == np.float32 for p in model.parameters())
    untied = TinyGPT(vocab_size=65, d_model=32, num_layers=1, num_heads=4, block_size=16, tie_weights=False)
    assert dict(untied.named_parameters())["lm_head.weight"].shape == (65, 32)


@pytest.mark.parametrize("tie", [True, False])
def test_tinygpt_gradcheck(tie: bool) -> None:
    model = _tiny_gpt(tie_weights=tie)
    model.double()
    idx = np.random.default_rng(0).integers(0, 7, (2, 5))
    targets = np.random.default_rng(1).integers(0, 7, (2, 5))
    assert gradcheck(lambda: model(idx), list(model.parameters()))
    assert gradcheck(lambda: F.cross_entropy(model(idx[:, :4]), targets[:, :4]), list(model.parameters()))


def test_tinygpt_causality_exact() -> None:
    model = _tiny_gpt(block_size=8)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 7, (3, 8))
    base = model(idx).data
    for t in range(7):
        changed = idx.copy()
        changed[:, t + 1:] = (changed[:, t + 1:] + rng.integers(1, 7, changed[:, t + 1:].shape)) % 7
        out = model(changed).data
        np.testing.assert_array_equal(out[:, : t + 1], base[:, : t + 1])
        assert not np.array_equal(out[:, t + 1:], base[:, t + 1:])


def test_tinygpt_input_errors() -> None:
    model = _tiny_gpt()
    with pytest.raises(ValueError, match="sequence length 6 exceeds block_size=5"):
        model(np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(ValueError, match=r"shape \(B, T\)"):
        model(np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError, match="integers"):
        model(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=4"):
        TinyGPT(vocab_size=7, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="tokenizer has 100 tokens but vocab_size=7"):
        TinyGPT(vocab_size=7, d_model=8, num_heads=2, tokenizer=CharTokenizer())


# ---------------------------------------------------------------------------- generation
def _greedy_by_hand(model: TinyGPT, ids: Array, steps: int) -> Array:
    seq = ids.copy()
    for _ in range(steps):
        logits = model(seq[:, -model.block_size:]).data[:, -1, :]
        seq = np.concatenate([seq, logits.argmax(axis=-1)[:, None]], axis=1)
    return seq


@pytest.mark.parametrize("sampling", [dict(temperature=0.0), dict(temperature=1.0), dict(temperature=0.8, top_k=3),
                                      dict(temperature=1.2, top_p=0.9)])
def test_kv_cache_equals_full_recompute_past_block_size(sampling: dict[str, Any]) -> None:
    model = _tiny_gpt(seed=5, vocab_size=11, d_model=16, num_heads=4, block_size=6)
    prompt = np.random.default_rng(1).integers(0, 11, (3, 4))
    cached = model.generate_tokens(prompt, 12, seed=7, **sampling)
    full = model.generate_tokens(prompt, 12, seed=7, use_cache=False, **sampling)
    assert cached.shape == (3, 16)
    np.testing.assert_array_equal(cached, full)
    np.testing.assert_array_equal(cached[:, :4], prompt)


def test_greedy_and_top_k_1_match_argmax_decoding() -> None:
    model = _tiny_gpt(seed=2, vocab_size=11, d_model=16, num_heads=4, block_size=6)
    prompt = np.random.default_rng(3).integers(0, 11, (2, 3))
    expected = _greedy_by_hand(model, prompt, 9)
    np.testing.assert_array_equal(model.generate_tokens(prompt, 9, temperature=0.0), expected)
    np.testing.assert_array_equal(model.generate_tokens(prompt, 9, top_k=1, seed=123), expected)
    np.testing.assert_array_equal(model.generate_tokens(prompt, 9, top_p=1e-9, seed=5), expected)


def test_generation_leaves_training_mode_and_graph_alone() -> None:
    model = _tiny_gpt()
    model.train()
    model.generate_tokens(np.zeros((1, 2), dtype=np.int64), 3, seed=0)
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_sample_next_respects_top_k_and_frequencies() -> None:
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]] * 20000))
    draws = sample_next(logits, rng)
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, [0.5, 0.3, 0.15, 0.05], atol=0.015)
    top2 = sample_next(logits, rng, top_k=2)
    assert set(np.unique(top2)) == {0, 1}
    np.testing.assert_allclose(np.mean(top2 == 0), 0.5 / 0.8, atol=0.015)
    nucleus = sample_next(logits, rng, top_p=0.7)  # 0.5 + 0.3 reach 0.7
    assert set(np.unique(nucleus)) == {0, 1}


def test_generate_text_seeds_and_stop() -> None:
    manual_seed(0)
    model = TinyGPT(vocab_size=100, d_model=16, num_layers=1, num_heads=2, block_size=8)
    assert isinstance(model.tokenizer, CharTokenizer) and model.tokenizer.vocab_size == 100
    a = model.generate("Hi", max_length=20, seed=1)
    assert a.startswith("Hi") and len(a) == 22
    assert model.generate("Hi", max_length=20, seed=1) == a
    assert model.generate("Hi", max_length=20, seed=2) != a
    greedy = model.generate("Hi", max_length=20, temperature=0.0)
    stop_char = greedy[5]
    stopped = model.generate("Hi", max_length=20, temperature=0.0, stop=stop_char)
    assert stopped == greedy[: 2 + greedy[2:].index(stop_char)]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        model.generate("caf\u00e9", max_length=3)
    with pytest.warns(UserWarning, match="12 tokens is longer than block_size=8"):
        long = model.generate("abcdefghijkl", max_length=3, seed=0)
    assert long.startswith("abcdefghijkl") and len(long) == 15
    with pytest.raises(ValueError, match="temperature"):
        model.generate("Hi", temperature=-1.0)


def test_generate_without_tokenizer_says_how_to_fix() -> None:
    model = _tiny_gpt()
    with pytest.raises(ValueError, match="tokenizer="):
        model.generate("ab")
    model.tokenizer = CharTokenizer("abcdefg")
    assert model.generate("ab", max_length=4, seed=0).startswith("ab")


# ---------------------------------------------------------------------------- checkpoints
def test_save_load_roundtrip(tmp_path: Path) -> None:
    model = _tiny_gpt(seed=9, tie_weights=False)
    model.tokenizer = CharTokenizer("abcdefg")
    path = tmp_path / "gpt.safetensors"
    model.save(path)
    loaded = TinyGPT.load(path)
    idx = np.random.default_rng(0).integers(0, 7, (2, 5))
    np.testing.assert_array_equal(loaded(idx).data, model(idx).data)
    assert loaded.config == model.config and not loaded.tie_weights
    assert isinstance(loaded.tokenizer, CharTokenizer) and loaded.tokenizer.vocab == "abcdefg"
    assert loaded.generate("abc", max_length=5, seed=3) == model.generate("abc", max_length=5, seed=3)
    assert [p.name for p in tmp_path.iterdir()] == ["gpt.safetensors"]  # atomic write left no temp file


def test_config_dataclass_builds_the_same_model_and_loads_checkpoints_written_before_it(tmp_path: Path) -> None:
    config = TinyGPTConfig(vocab_size=7, d_model=8, num_layers=1, num_heads=2, block_size=6, tie_weights=False)
    manual_seed(3)
    from_config = TinyGPT.from_config(config)
    manual_seed(3)
    from_keywords = TinyGPT(7, 8, 1, 2, 6, tie_weights=False)
    assert from_config.config == from_keywords.config == config and from_config.block_size == 6
    for (name, a), (_, b) in zip(from_config.state_dict().items(), from_keywords.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)
    with pytest.raises(ValueError, match="num_heads"):
        TinyGPTConfig(d_model=10, num_heads=4)
    # The metadata written before the dataclass existed: a plain dict with exactly these keys.
    old = {"vocab_size": 7, "d_model": 8, "num_layers": 1, "num_heads": 2, "block_size": 6, "dropout": 0.0,
           "tie_weights": False}
    path = tmp_path / "old.safetensors"
    save_tensors(path, from_keywords.state_dict(), {"model": "tinygpt", "format": 1, "config": old, "tokenizer": None})
    loaded = TinyGPT.load(path)
    assert loaded.config == config
    np.testing.assert_array_equal(loaded(np.zeros((1, 3), dtype=np.int64)).data,
                                  from_keywords(np.zeros((1, 3), dtype=np.int64)).data)


def test_load_rejects_other_models_and_corrupt_files(tmp_path: Path) -> None:
    other = tmp_path / "cnn.safetensors"
    save_tensors(other, {"conv.weight": np.zeros((2, 2), dtype=np.float32)}, {"model": "cnn"})
    with pytest.raises(ValueError, match=r"cnn\.safetensors is not a TinyGPT checkpoint.*'cnn'"):
        TinyGPT.load(other)
    incomplete = tmp_path / "incomplete.safetensors"
    save_tensors(incomplete, {"x": np.zeros(2, dtype=np.float32)}, {"model": "tinygpt", "format": 1, "config": {}})
    with pytest.raises(ValueError, match="incomplete.safetensors.*config lacks"):
        TinyGPT.load(incomplete)
    good = tmp_path / "good.safetensors"
    _tiny_gpt().save(good)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(ValueError, match="corrupt.safetensors"):
        TinyGPT.load(corrupt)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ValueError, match="garbage.safetensors"):
        TinyGPT.load(garbage)
    with pytest.raises(FileNotFoundError):
        TinyGPT.load(tmp_path / "missing.safetensors")


# ---------------------------------------------------------------------------- training
@pytest.mark.slow
def test_trains_on_shakespeare_slice(shakespeare_path: Path) -> None:
    text = shakespeare_path.read_text(encoding="utf-8")[:200_000]
    tokenizer = CharTokenizer.from_text(text)
    manual_seed(0)
    model = TinyGPT(vocab_size=tokenizer.vocab_size, d_model=64, num_layers=2, num_heads=4, block_size=32,
                    tokenizer=tokenizer)
    val_ids = np.asarray(tokenizer.encode(text[-20_000:]), dtype=np.int64)
    starts = np.linspace(0, len(val_ids) - 33, 64).astype(np.int64)
    windows = val_ids[starts[:, None] + np.arange(33)]

    def val_loss() -> float:
        model.eval()
        loss = F.cross_entropy(model(windows[:, :-1]), windows[:, 1:]).item()
        model.train()
        return loss

    before = val_loss()
    history = model.train_on_text(text, steps=200, batch_size=16, lr=3e-3, eval_every=100, val_fraction=0.1)
    after = val_loss()
    assert 3.9 < before < 4.4  # ln(vocab) for a fresh model
    print(f"val loss {before:.3f} -> {after:.3f}")
    assert after < 2.6, (before, after)
    assert len(history.train_loss) == 200 and history.val_loss[-1][1] < 2.6
    assert model.generate("ROMEO:", max_length=40, seed=0).startswith("ROMEO:")


def test_train_on_text_builds_a_tokenizer_and_rejects_short_text() -> None:
    model = _tiny_gpt(vocab_size=12, block_size=4)
    with pytest.raises(ValueError, match="block_size \\+ 1"):
        model.train_on_text("abc", steps=1)
    text = "abcabcabd" * 30
    history = model.train_on_text(text, steps=3, batch_size=4, eval_every=3)
    assert isinstance(model.tokenizer, CharTokenizer) and model.tokenizer.vocab == "abcd"
    assert len(history.train_loss) == 3 and all(np.isfinite(history.train_loss))
    with pytest.raises(ValueError, match="distinct characters but the model's vocab_size is 7"):
        _tiny_gpt().train_on_text("abcdefghij" * 10, steps=1)
