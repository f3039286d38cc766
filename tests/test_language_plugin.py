"""The language plugin's hooks, its import hygiene, the generate command and the after-training sample."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pluggy
import pytest

import plugins.language.plugin as language_plugin
from registry.testing import collect_registrations
from tinytorch_core import Tensor, hookspecs, manual_seed


_collect = collect_registrations


def test_plugin_import_is_light_and_independent() -> None:
    code = (
        "import sys, plugins.language.plugin\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('registry', 'plugins.vision', 'plugins.language.model',"
        " 'plugins.language.attention', 'tinytorch_core.training')))\n"
        "print(bad)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_plugin_uses_only_public_core_api() -> None:
    package = Path(language_plugin.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text(encoding="utf-8")
        assert "import registry" not in text and "from registry" not in text, source
        assert "plugins.vision" not in text, source
        assert "import pickle" not in text, source


def test_hookimpls_validate_against_hookspecs() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(language_plugin, name="language")
    manager.check_pending()


def test_registrations_build_working_components() -> None:
    assert list(_collect(language_plugin.tinytorch_register_modalities)) == ["language"]
    tokenizers = _collect(language_plugin.tinytorch_register_tokenizers)
    char_cls, char_meta = tokenizers["char"]
    assert char_cls().decode(char_cls().encode(char_meta["sample_text"])) == char_meta["sample_text"]
    bpe_cls, bpe_meta = tokenizers["bpe"]
    assert bpe_meta["trainable"] is True
    bpe = bpe_cls().train(bpe_meta["sample_text"] * 3, 270)
    assert bpe.decode(bpe.encode(bpe_meta["sample_text"])) == bpe_meta["sample_text"]

    modules = _collect(language_plugin.tinytorch_register_modules)
    assert set(modules) == {"attention", "transformer_block", "positional_encoding"}
    for name, (factory, meta) in modules.items():
        inputs = meta["sample_input"]()
        for module in (factory(), factory(**meta["kwargs"])):
            out = module(*inputs)
            assert isinstance(out, Tensor) and out.shape == inputs[0].shape, name

    models = _collect(language_plugin.tinytorch_register_models)
    factory, meta = models["tinygpt"]
    model = factory(**meta["sample_kwargs"])
    x, y = meta["sample_batch"]()
    assert model(x).shape == (*x.shape, meta["sample_kwargs"]["vocab_size"])
    assert np.array_equal(x[:, 1:], y[:, :-1])

    targets = _collect(language_plugin.tinytorch_register_reuse_targets)
    reuse_factory, reuse_meta = targets["tinygpt"]
    rx, _ = reuse_meta["sample_batch"]()
    assert reuse_factory()(rx).shape[:2] == rx.shape

    datasets = _collect(language_plugin.tinytorch_register_datasets)
    dataset_factory, dataset_meta = datasets["text"]
    splits = dataset_factory(**dataset_meta["sample_config"])
    assert splits.info["block_size"] == dataset_meta["sample_config"]["block_size"]


def test_config_schema_and_commands() -> None:
    sections: dict[str, Any] = {}

    class Schema:
        def add_section(self, name: str, keys: Any, description: str = "") -> None:
            sections[name] = dict(keys)

    language_plugin.tinytorch_add_config_schema(Schema())
    assert sections["language"]["sample_chars"] is int
    commands: dict[str, Any] = {}

    class Cli:
        def add_command(self, name: str, run: Any, *, help: str, arguments: Any = None) -> None:
            parser = argparse.ArgumentParser(prog=f"tinytorch {name}")
            arguments(parser)
            commands[name] = (run, parser)

    language_plugin.tinytorch_register_commands(Cli())
    _, parser = commands["generate"]
    args = parser.parse_args(["ckpt.safetensors", "--prompt", "Hi", "--top-k", "5", "--seed", "3"])
    assert (args.checkpoint, args.prompt, args.top_k, args.seed, args.top_p) == ("ckpt.safetensors", "Hi", 5, 3, None)


# ---------------------------------------------------------------- generate and the after-training hook
def _tiny_model(tmp_path: Path) -> Path:
    from plugins.language import CharTokenizer, TinyGPT

    manual_seed(0)
    tokenizer = CharTokenizer.from_text("hello world\n")
    model = TinyGPT(vocab_size=tokenizer.vocab_size, d_model=16, num_layers=1, num_heads=2, block_size=16,
                    tokenizer=tokenizer)
    path = tmp_path / "model.safetensors"
    model.save(path)
    return path


def _generate(path: Path, *extra: str) -> tuple[int, argparse.Namespace]:
    from plugins.language.cli import add_generate_arguments, run_generate

    parser = argparse.ArgumentParser()
    add_generate_arguments(parser)
    args = parser.parse_args([str(path), *extra])
    return run_generate(args), args


def test_generate_prints_reproducible_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _tiny_model(tmp_path)
    code, _ = _generate(path, "--prompt", "hello", "--max-new-tokens", "20", "--seed", "1")
    first = capsys.readouterr().out
    assert code == 0 and first.startswith("hello") and len(first.rstrip("\n")) >= 5
    _generate(path, "--prompt", "hello", "--max-new-tokens", "20", "--seed", "1")
    assert capsys.readouterr().out == first
    assert set(first) <= set("hello world\n")


def test_generate_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tinytorch_core.serialization import save

    path = _tiny_model(tmp_path)
    code, _ = _generate(path, "--prompt", "hello Z")
    err = capsys.readouterr().err
    assert code != 0 and "'Z'" in err and "position 6" in err and err.count("\n") == 1

    corrupted = tmp_path / "corrupted.safetensors"
    corrupted.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    code, _ = _generate(corrupted)
    err = capsys.readouterr().err
    assert code != 0 and err.startswith("error:") and err.count("\n") == 1

    other = tmp_path / "cnn.safetensors"
    save(other, {"conv.weight": np.zeros((2, 2), dtype=np.float32)}, {"model": "lenet"})
    code, _ = _generate(other)
    err = capsys.readouterr().err
    assert code != 0 and "not a TinyGPT checkpoint" in err and err.count("\n") == 1

    code, _ = _generate(tmp_path / "missing.safetensors")
    assert code != 0 and "not found" in capsys.readouterr().err


def test_train_end_saves_model_and_prints_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from plugins.language import TinyGPT

    model = TinyGPT.load(_tiny_model(tmp_path))
    trainer = argparse.Namespace(model=model, run_dir=tmp_path / "run")
    language_plugin.tinytorch_on_train_end(trainer, {"language": {"sample_chars": 25, "sample_prompt": "he"}})
    out = capsys.readouterr().out
    assert "saved model to" in out and "--- sample (25 tokens" in out
    sample = out.split("---\n")[1] if "---\n" in out else out
    assert "he" in sample
    reloaded = TinyGPT.load(tmp_path / "run" / "model.safetensors")
    ids = np.array([[0, 1, 2, 3]])
    assert np.array_equal(reloaded(ids).data, model(ids).data)


def test_train_end_ignores_other_models(capsys: pytest.CaptureFixture[str]) -> None:
    from tinytorch_core.nn import Linear

    language_plugin.tinytorch_on_train_end(argparse.Namespace(model=Linear(2, 2), run_dir=None), {})
    assert capsys.readouterr().out == ""


def test_registry_conformance_kit_passes() -> None:
    from registry.conformance import check_plugin

    assert [str(f) for f in check_plugin(language_plugin)] == []


@pytest.mark.parametrize("name", ["tinygpt-stdlib.toml", "tinygpt-shakespeare.toml"])
def test_configs_validate(name: str) -> None:
    from registry.config import ConfigSchemaRegistry, load_config, validate_config

    config = load_config(Path(__file__).resolve().parent.parent / "configs" / name)
    schema = ConfigSchemaRegistry()
    language_plugin.tinytorch_add_config_schema(schema.bind("language"))
    validate_config(config, schema)
    assert config.section("data")["name"] == "text" and config.section("model")["name"] == "tinygpt"
    assert language_plugin.language_settings(config.data)["sample_chars"] == 300
