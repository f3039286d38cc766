"""Writes notebooks/tinygpt.ipynb (outputs stripped) from the cells below: edit here, then run python scripts/make_notebook.py."""
import nbformat as nbf
nb = nbf.v4.new_notebook()
md = nbf.v4.new_markdown_cell
code = nbf.v4.new_code_cell
cells = [
md("""# TinyGPT from the ground up

This notebook is the course module on transformers, run on TinyTorch: a tokenizer, self-attention and a
picture of it, a transformer block built from `Dense`, `ReLU` and `Sequential`, **TinyGPT**, a short
training run with a live loss plot, generation, and the reuse report that measures how much of the
language plugin is the domain-agnostic core.

Everything runs on the CPU with numpy, in about two minutes on two cores. Open it with
`pip install -e '.[plot]' jupyter && jupyter lab notebooks/tinygpt.ipynb`."""),
code("""import time
from pathlib import Path

import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Image, clear_output, display

import tinytorch_core as tt
from tinytorch_core import Tensor, nn
from tinytorch_core.gradcheck import gradcheck
from tinytorch_core.plot import plot_attention
from plugins.language import CharTokenizer, MultiHeadAttention, TinyGPT

tt.manual_seed(0)
notebook_started = time.perf_counter()
import tempfile
pictures = Path(tempfile.mkdtemp(prefix="tinygpt-notebook-"))  # where the PNGs go; the repo stays clean"""),
md("""## 1. Text becomes numbers: the tokenizer

A character tokenizer gives every distinct character an id. `encode` and `decode` are inverses."""),
code("""from plugins.language.corpus import stdlib_corpus

shakespeare = Path("../../shared/data/tinyshakespeare.txt")
if not shakespeare.exists():
    shakespeare = Path("../shared/data/tinyshakespeare.txt")
text = shakespeare.read_text() if shakespeare.exists() else stdlib_corpus(400_000)
print(f"corpus: {len(text):,} characters from {'tinyshakespeare' if shakespeare.exists() else 'the Python standard library'}")

tokenizer = CharTokenizer.from_text(text)
ids = tokenizer.encode("To be, or not to be")
print(tokenizer.vocab_size, "tokens;", ids)
assert tokenizer.decode(ids) == "To be, or not to be\""""),
md("""## 2. Self-attention, and a picture of it

Each position makes a query, a key and a value; the softmax of query-key scores says how much of each
earlier value a position takes (causal: never a later one). `return_attention=True` hands back the
weights, shape (batch, heads, T, T)."""),
code("""attention = MultiHeadAttention(d_model=32, num_heads=4)
x = Tensor(np.random.default_rng(0).standard_normal((1, 8, 32)))
out, weights = attention(x, return_attention=True)
print(out.shape, weights.shape)
assert np.allclose(weights.sum(-1), 1.0) and np.allclose(np.triu(weights[0, 0], 1), 0.0)  # rows sum to 1, causal
display(Image(filename=str(plot_attention(weights[:1], [f"t{i}" for i in range(8)], pictures / "attention_random.png",
                                          title="random weights: attention is near-uniform over the past"))))"""),
md("""## 3. A transformer block from Dense, ReLU and Sequential

Pre-LayerNorm attention and a feed-forward network, each added back to the residual stream. Every op
has its own backward; the gradient check compares them with central differences in float64."""),
code("""class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, num_heads)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential([nn.Dense(d_model, 4 * d_model), nn.ReLU(), nn.Dense(4 * d_model, d_model)])

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attention(self.ln1(x))
        return x + self.mlp(self.ln2(x))

block = Block(16, 2)
print(block)
with tt.default_dtype(np.float64):
    small = Block(8, 2).double()
    probe = Tensor(np.random.default_rng(1).standard_normal((2, 5, 8)), requires_grad=True)
    print("gradient check:", gradcheck(lambda: (small(probe) ** 2).sum(), [probe, *small.parameters()]))"""),
md("""## 4. TinyGPT

Token and position embeddings, a stack of blocks, a final LayerNorm and a head tied to the token
embedding: GPT-2's architecture, small."""),
code("""model = TinyGPT(vocab_size=tokenizer.vocab_size, d_model=64, num_layers=2, num_heads=4, block_size=64,
                tokenizer=tokenizer)
print(model)
print(f"{sum(p.data.size for p in model.parameters()):,} parameters")"""),
md("""## 5. Training, with a live loss plot

The core's `Trainer` runs the loop (AdamW, clipping, evaluation); a callback redraws the curve."""),
code("""from plugins.language.data import make_text_splits
from tinytorch_core.data import DataLoader
from tinytorch_core.optim import AdamW
from tinytorch_core.training import Callback, Trainer

splits = make_text_splits(text, tokenizer, model.block_size, val_fraction=0.1)
train_loader = DataLoader(splits.train, batch_size=16, shuffle=True, drop_last=True, seed=0)
val_loader = DataLoader(splits.val, batch_size=16)

class LivePlot(Callback):
    def __init__(self, every: int = 50) -> None:
        self.every, self.steps, self.losses, self.val = every, [], [], []

    def on_step_end(self, trainer, step, loss):
        self.steps.append(step)
        self.losses.append(loss)
        if step % self.every == 0:
            self.draw()

    def on_eval_end(self, trainer, step, metrics):
        self.val.append((step, metrics["val_loss"]))

    def draw(self):
        clear_output(wait=True)
        plt.figure(figsize=(6, 3.2))
        plt.plot(self.steps, self.losses, label="train loss", linewidth=1)
        if self.val:
            plt.plot(*zip(*self.val), "o-", label="validation loss")
        plt.xlabel("step"); plt.ylabel("loss"); plt.legend(); plt.grid(alpha=0.3)
        plt.show()

live = LivePlot()
trainer = Trainer(model, AdamW(model.optimizer_groups(0.1), lr=3e-3), grad_clip=1.0, eval_every=100,
                  eval_batches=10, callbacks=[live], progress=False)
history = trainer.fit(train_loader, val_loader, max_steps=300)
live.draw()
chance = float(np.log(tokenizer.vocab_size))  # the loss of a uniform guess
print(f"validation loss {chance:.3f} (chance) -> {history.val_loss[-1][1]:.3f} in {history.wall_time:.0f} s")
assert history.val_loss[-1][1] < chance - 1.0"""),
md("""## 6. Generation

Sampling one token at a time, with a KV cache so each new token costs one position's work."""),
code("""print(model.generate("ROMEO:", max_length=200, temperature=0.8, top_k=20, seed=0))"""),
md("""And what the trained model attends to: a map for every layer and head, the prompt's characters on
both axes."""),
code("""prompt = "To be, or not to be"
maps = model.attention_maps(prompt)
print(maps.shape)  # (layers, heads, T, T)
display(Image(filename=str(plot_attention(maps, list(prompt), pictures / "attention_trained.png", title=repr(prompt)))))"""),
md("""## 7. How much of this is the core? The reuse report

Measured, not claimed: which modules and ops the language plugin's models run, and whose they are."""),
code("""import subprocess, sys
report = subprocess.run([sys.executable, "-m", "registry.cli", "report", "reuse", "--plugin", "language",
                         "--format", "markdown"], capture_output=True, text=True)
print(report.stdout or report.stderr)
assert report.returncode == 0
print(f"notebook ran in {time.perf_counter() - notebook_started:.0f} s")"""),
]
nb["cells"] = cells
nb["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                  "language_info": {"name": "python"}}
nbf.write(nb, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "notebooks" / "tinygpt.ipynb"))
