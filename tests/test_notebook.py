"""The course notebook runs top to bottom, and the repository keeps it without outputs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "tinygpt.ipynb"


def test_notebook_is_kept_with_outputs_stripped() -> None:
    import json

    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    assert all(not cell.get("outputs") and cell.get("execution_count") is None for cell in code), (
        "strip the outputs before committing: jupyter nbconvert --clear-output --inplace notebooks/tinygpt.ipynb")


@pytest.mark.slow
def test_notebook_runs_top_to_bottom(monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat", reason="needs the notebook extra: pip install -e '.[notebook]'")
    nbclient = pytest.importorskip("nbclient", reason="needs the notebook extra: pip install -e '.[notebook]'")
    pytest.importorskip("matplotlib", reason="needs the notebook extra: pip install -e '.[notebook]'")
    pytest.importorskip("ipykernel", reason="needs the notebook extra: pip install -e '.[notebook]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    root = str(NOTEBOOK.parent.parent)
    # The kernel imports the project from the checkout, as a learner's Jupyter started in the repo does.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 3, "expected the attention pictures and the live loss plot"
    text = "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")
    assert "validation loss" in text and "notebook ran in" in text
    print(f"notebook ran in {seconds:.0f} s")
