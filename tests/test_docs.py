"""The documentation: API reference completeness and a quick, warning-free build.

The build runs Sphinx on a copy of ``docs/`` (so generated files never touch
the working tree) with example execution off (``-D plot_gallery=0``) and
``-W``: any warning fails the test.
"""
import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

sys.path.insert(0, str(DOCS))
import _apigen  # noqa: E402

sys.path.remove(str(DOCS))


def _subpackage_names():
    """``{subpackage: __all__}`` read directly, independently of docs/_apigen.py."""
    import sklearn_patchdesc

    out = {}
    for info in pkgutil.iter_modules(sklearn_patchdesc.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"sklearn_patchdesc.{info.name}")
        if info.ispkg or hasattr(mod, "__all__"):
            out[info.name] = list(getattr(mod, "__all__", []))
    return out


def _autosummary_entries(text):
    """``{module: set(names)}`` listed in autosummary blocks of the API page."""
    entries, module, in_block = {}, None, False
    for line in text.splitlines():
        if line.startswith(".. currentmodule:: "):
            module = line.split("::", 1)[1].strip()
        elif line.startswith(".. autosummary::"):
            in_block = True
        elif in_block and line.startswith("   ") and not line.strip().startswith(":"):
            entries.setdefault(module, set()).add(line.strip())
        elif in_block and line.strip() and not line.startswith("   "):
            in_block = False
    return entries


def test_every_public_name_is_in_the_api_reference():
    names = _subpackage_names()
    assert {"datasets", "denoise", "describe", "metrics", "model_selection",
            "inversion"} <= set(names)
    listed = _autosummary_entries(_apigen.render())
    missing = [f"sklearn_patchdesc.{pkg}.{n}" for pkg, all_ in names.items() for n in all_
               if n not in listed.get(f"sklearn_patchdesc.{pkg}", set())]
    assert not missing, f"public names missing from the API reference: {missing}"
    for pkg, all_ in names.items():
        assert len(all_) == len(set(all_)), f"duplicate names in {pkg}.__all__"


def test_user_guide_and_toctree_pages_exist():
    for page in ("index", "getting_started", "user_guide", "seed_claims", "scale_out",
                 "guide/data", "guide/denoising", "guide/descriptors", "guide/training",
                 "guide/evaluation", "guide/model_selection", "guide/inversion"):
        assert (DOCS / f"{page}.rst").is_file(), page
    assert (DOCS / "seed_claims_table.rst").is_file()
    assert (ROOT / "examples" / "README.txt").is_file()
    make = (DOCS / "Makefile").read_text()
    for target in ("html:", "html-noplot:", "html-quick:"):
        assert target in make


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("numpydoc")
    pytest.importorskip("pydata_sphinx_theme")
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "api.rst", "sg_execution_times.rst"))
    out = tmp_path / "html"
    env = dict(os.environ, SKPD_DOCS_REPO=str(ROOT), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-D", "plot_gallery=0", str(src), str(out)],
        capture_output=True, text=True, env=env, timeout=280)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    assert "WARNING" not in proc.stderr, proc.stderr[-6000:]
    # one page per public name, a page per example, the claims page
    for pkg, all_ in _subpackage_names().items():
        for n in all_:
            assert (out / "generated" / f"sklearn_patchdesc.{pkg}.{n}.html").is_file(), (pkg, n)
    for example in sorted((ROOT / "examples").glob("plot_*.py")):
        assert (out / "auto_examples" / f"{example.stem}.html").is_file(), example.name
    assert (out / "seed_claims.html").is_file()
    assert (out / "scale_out.html").is_file()
    # nothing was written into the working tree
    assert not (src.parent / "examples").exists()
