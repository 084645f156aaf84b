"""attn explain --save: PNG and SVG figures of every head, valid and of the expected size."""

from __future__ import annotations

import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

import pytest

from helpers.run_cli import run
from helpers.schema import validate

pytest.importorskip("matplotlib", reason="the plot extra (pip install 'attncli[plot]') is not installed")

TEXT = "I do not like spinach"


def png_size(data: bytes) -> tuple[int, int]:
    """Parse the PNG signature and IHDR chunk (checking its CRC); return (width, height)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert zlib.crc32(kind + body) == crc
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return struct.unpack(">II", body[:8])


def test_png_and_svg_have_the_requested_size(tiny_model):
    from attncli.render.plot import heatmaps

    tokens, _ = tiny_model.encode(TEXT)
    trace = tiny_model.forward([t.id for t in tokens])
    assert png_size(heatmaps(trace, 1, tokens, "png", size=(900, 400))) == (900, 400)
    root = ET.fromstring(heatmaps(trace, 1, tokens, "svg", size=(900, 400)))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("width") == "648pt" and root.get("height") == "288pt"  # 9 in x 4 in at 72 pt per inch
    images = root.findall(".//{http://www.w3.org/2000/svg}image")
    assert len(images) == tiny_model.config.n_head + 1  # one heatmap per head, and the color bar's gradient


def test_cli_save_writes_png_and_svg(tiny_model_dir, tmp_path):
    png, svg = tmp_path / "h.png", tmp_path / "h.svg"
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--save", str(png))
    assert code == 0 and out == "" and "wrote" in err
    w, h = png_size(png.read_bytes())
    assert w > 300 and h > 200
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--save", str(svg), "--layer", "1")
    assert code == 0 and out == ""
    ET.fromstring(svg.read_bytes())


@pytest.mark.parametrize("name", ["heatmap.jpg", "heatmap", "nofolder/heatmap.png", "afile.txt/heatmap.png"])
def test_cli_save_bad_path_is_one_stderr_line(tiny_model_dir, tmp_path, name):
    (tmp_path / "afile.txt").write_text("not a folder")
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--save", str(tmp_path / name))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--save" in err
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize("ending", ["/", "/.", "//"])
@pytest.mark.parametrize("option, name", [("--save", "heatmap.png"), ("--html", "page.html")])
def test_a_path_that_ends_in_a_folder_is_refused(tiny_model_dir, tmp_path, option, name, ending):
    """x.png/ names a folder: it was written as x.png."""
    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), option, f"{tmp_path / name}{ending}")
    assert code == 2 and out == "" and len(err.splitlines()) == 1 and option in err
    assert f"leave out the trailing {ending!r}" in err
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_one_line_says_what_to_install(tiny_model_dir, tmp_path):
    # A real interpreter on which `import matplotlib` fails, as on an install without the extra.
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'matplotlib' or name.startswith('matplotlib.'):\n"
        "            raise ImportError('No module named matplotlib')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from attncli.cli import main\n"
        "sys.argv = ['attn'] + sys.argv[1:]\n"
        "main()\n"
    )
    out_file = tmp_path / "h.png"
    proc = subprocess.run([sys.executable, "-c", script, "explain", TEXT, "-m", str(tiny_model_dir), "--save", str(out_file)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and "pip install 'attncli[plot]'" in proc.stderr
    assert not out_file.exists()


def test_cli_save_with_json_prints_the_explain_document(tiny_model_dir, tmp_path):
    import json

    code, out, err = run("explain", TEXT, "-m", str(tiny_model_dir), "--save", str(tmp_path / "h.svg"), "--json")
    assert code == 0 and "wrote" in err
    doc = json.loads(out)
    validate(doc)
    assert doc["command"] == "explain" and (tmp_path / "h.svg").stat().st_size > 1000
