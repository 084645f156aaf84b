"""The notebooks in examples/ run top to bottom in a real Jupyter kernel (nbclient + ipykernel), and
are kept in git without outputs, so what a reader sees is what the code makes on their machine."""

from __future__ import annotations

import pytest

from helpers import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))


def test_there_is_a_notebook():
    assert EXAMPLES, "examples/ holds no notebook"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_notebook_is_stored_without_outputs(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, \
                f"{path.name}: strip the outputs before committing (jupyter nbconvert --clear-output --inplace)"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_notebook_runs_top_to_bottom_in_a_kernel(path, tmp_path):
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()  # raises CellExecutionError, with the cell and its traceback, on any error
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert html and html[-1]["data"]["text/html"].startswith("<iframe srcdoc="), "the run shows itself as the page"
