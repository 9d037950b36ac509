"""The documentation: API reference completeness and a quick, warning-free build.

The build runs Sphinx on a copy of ``docs/`` (so generated files never touch
the working tree) with example execution off (``-D plot_gallery=0``) and
``-W``: any warning fails the test.
"""
import functools
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
    for page in ("index", "getting_started", "user_guide", "seed_claims", "scale_out", "sources",
                 "guide/data", "guide/denoising", "guide/descriptors", "guide/training",
                 "guide/evaluation", "guide/model_selection", "guide/inversion"):
        assert (DOCS / f"{page}.rst").is_file(), page
    assert (DOCS / "seed_claims_table.rst").is_file()
    assert (DOCS / "sources.rst").is_file() and (DOCS / "_static" / "custom.css").is_file()
    assert (ROOT / "examples" / "README.txt").is_file()
    make = (DOCS / "Makefile").read_text()
    for target in ("html:", "html-noplot:", "html-quick:"):
        assert target in make


def test_landing_page_has_the_headline_results():
    index = (DOCS / "index.rst").read_text()
    assert "Headline results\n================" in index
    assert ".. include:: headline_table.rst" in index
    assert (DOCS / "headline_table.rst").read_text().strip()


def test_sources_page_names_every_seed_the_docs_mention():
    import re

    sources = (DOCS / "sources.rst").read_text()
    text = " ".join(p.read_text() for p in ROOT.glob("sklearn_patchdesc/**/*.py"))
    text += " ".join(p.read_text() for p in DOCS.glob("**/*.rst"))
    for number in sorted(set(re.findall(r"[Ss]eed (00\d)", text))):
        assert f".. _seed-{number}:" in sources, f"seed {number} is not on the sources page"


def _conf(tmp_path, monkeypatch, **env):
    """The namespace of docs/conf.py, run on a copy (it writes api.rst)."""
    import runpy

    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "api.rst", "sg_execution_times.rst"))
    monkeypatch.setenv("SKPD_DOCS_REPO", str(ROOT))
    for key in ("SKPD_EXAMPLE_QUICK", "SKPD_DOCS_PLOT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return runpy.run_path(str(src / "conf.py"))


def test_quick_mode_builds_say_so_on_every_page(tmp_path, monkeypatch):
    quick = _conf(tmp_path / "q", monkeypatch, SKPD_EXAMPLE_QUICK="1")
    assert "quick mode" in quick["html_theme_options"]["announcement"]
    full = _conf(tmp_path / "f", monkeypatch)
    assert full["html_theme_options"]["announcement"] == ""
    assert "custom.css" in full["html_css_files"]


def test_seed_numbers_in_docstrings_become_links(tmp_path, monkeypatch):
    link = _conf(tmp_path, monkeypatch)["_link_seeds"]
    lines = ["Baseline (seed 000, section 2.1); seed 001's batches.", "``seed 002`` stays"]
    link(None, "class", "x", None, {}, lines)
    assert lines[0] == ("Baseline (:ref:`seed 000 <seed-000>`, section 2.1); "
                        ":ref:`seed 001 <seed-001>`'s batches.")
    assert lines[1] == "``seed 002`` stays"
    gallery = _conf(tmp_path / "g", monkeypatch)["_link_seeds_in_gallery"]
    page = ["Title (seed 003)", "================", "", "As in seed 004.",
            "", ".. code-block:: Python", "", "    x = 1  # seed 001"]
    source = ["\n".join(page)]
    gallery(None, "auto_examples/plot_x", source)
    assert source[0].split("\n") == page[:3] + [
        "As in :ref:`seed 004 <seed-004>`."] + page[4:]


# ------------------------------------------------- the docs extra's coverage
def _declared_requirements():
    """``(install_requires, {extra: [names]})`` read from setup.py without running it."""
    import ast
    import re

    tree = ast.parse((ROOT / "setup.py").read_text())
    extras = install = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "EXTRAS" for t in node.targets):
            extras = ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == "install_requires":
            install = ast.literal_eval(node.value)

    def names(reqs):
        return {_normalise(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in reqs}

    return names(install), {k: names(v) for k, v in extras.items()}


def _normalise(name):
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _imports(path, modname):
    """Absolute names of everything ``path`` imports, at any depth (lazy imports too)."""
    import ast

    pkg = modname if path.name == "__init__.py" else modname.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                mod = ".".join(parts + ([node.module] if node.module else []))
            else:
                mod = node.module
            out |= {mod} | {f"{mod}.{a.name}" for a in node.names}
    return out


def _third_party_reached(start):
    """Top-level third-party modules imported by ``start`` names, following the
    imports inside sklearn_patchdesc (an example needing optuna through
    ``TPESearchCV`` is caught although it never imports optuna itself)."""
    seen, found, todo = set(), set(), list(start)
    while todo:
        name = todo.pop()
        top = name.split(".")[0]
        if top != "sklearn_patchdesc":
            if top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
            continue
        base = ROOT / Path(*name.split("."))
        path = base / "__init__.py" if (base / "__init__.py").is_file() else base.with_suffix(".py")
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        todo += _imports(path, name)
    return found


@functools.lru_cache(maxsize=None)
def _module_distributions():
    from importlib.metadata import packages_distributions

    return packages_distributions()


def _distribution(module):
    dists = _module_distributions().get(module)
    if not dists:
        pytest.fail(f"{module!r} is imported but not installed here, so its distribution "
                    "cannot be checked against setup.py; install the dev extra")
    return {_normalise(d) for d in dists}


def test_docs_extra_covers_every_gallery_example_dependency():
    """`pip install -e ".[docs]"` must be enough for `make -C docs html` / `html-quick`,
    which run every example (a missing optuna once stopped the build)."""
    install, extras = _declared_requirements()
    declared = install | extras["docs"]
    missing = {}
    for example in sorted((ROOT / "examples").glob("*.py")):
        for module in sorted(_third_party_reached(_imports(example, "examples._x"))):
            dists = _distribution(module)
            if not dists & declared:
                missing.setdefault(example.name, []).append(f"{module} ({', '.join(dists)})")
    assert not missing, ("gallery examples need packages that neither install_requires "
                         f"nor the docs extra in setup.py declare: {missing}")


def test_every_third_party_import_of_the_package_is_declared():
    install, extras = _declared_requirements()
    declared = install.union(*extras.values())
    package = [".".join(p.relative_to(ROOT).with_suffix("").parts)
               for p in (ROOT / "sklearn_patchdesc").rglob("*.py")]
    undeclared = sorted(m for m in _third_party_reached(package)
                        if not _distribution(m) & declared)
    assert not undeclared, f"imported by sklearn_patchdesc but not in setup.py: {undeclared}"


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
