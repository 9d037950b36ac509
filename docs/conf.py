"""Sphinx configuration of the sklearn-patchdesc documentation.

Quick build without running the examples (the gallery pages are still made
from the scripts' text)::

    make -C docs html-noplot                 # or: make -C docs html SPHINXOPTS="-D plot_gallery=0"

Full build, running every example (set ``SKPD_EXAMPLE_QUICK=1`` for the tiny
sizes the test suite uses)::

    make -C docs html                        # or: SKPD_EXAMPLE_QUICK=1 make -C docs html
    make -C docs html-quick                  # the same with SKPD_EXAMPLE_QUICK=1

``SKPD_DOCS_PLOT=0`` in the environment also switches example execution off.
"""
import os
import re
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the repository (examples/ and the package); tests build a copy of docs/
# elsewhere and point here with SKPD_DOCS_REPO
ROOT = Path(os.environ.get("SKPD_DOCS_REPO") or HERE.parent).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

os.environ.setdefault("MPLBACKEND", "Agg")

import sklearn_patchdesc  # noqa: E402
from _apigen import write_api_page  # noqa: E402

# -- project -----------------------------------------------------------------
project = "sklearn-patchdesc"
author = "sklearn-patchdesc developers"
copyright = "sklearn-patchdesc developers, BSD-3-Clause"
release = sklearn_patchdesc.__version__
version = ".".join(release.split(".")[:2])

# -- extensions --------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json",
                    "seed_claims_table.rst", "headline_table.rst", "demo_table.rst"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
language = "en"
nitpicky = False

# The API page is generated from the packages' __all__ at every build.
write_api_page(HERE / "api.rst")

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
autodoc_inherit_docstrings = True
autoclass_content = "class"

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# every public docstring is checked at build time (-W makes a finding an error):
# parameters documented and in order, a Returns section, a summary, a docstring
# at all; tests/test_docstrings.py runs the same checks without a build
numpydoc_validation_checks = {"GL08", "PR01", "PR02", "PR03", "RT01", "SS01"}
# not validated: methods whose contract (and docstring) is their framework's
# (skorch callback hooks, torch modules' forward, scikit-learn's get_params /
# set_params), the sampler protocol PatchLoader reads (documented once, in
# sklearn_patchdesc/describe/_samplers.py), constants (a "#:" line, not a
# numpydoc docstring) and the scorer objects (scikit-learn's scorer call,
# documented by their classes HPatchesScorer / DenoiseScorer)
numpydoc_validation_exclude = {r"\.(initialize|on_[a-z_]+)$", r"\.forward$",
                               r"\.(get_params|set_params)$", r"\.(batches|n_batches)$",
                               r"\.[A-Z][A-Z0-9_]*$", r"_scorer$"}
numpydoc_xref_param_type = False

# -- sphinx-gallery ----------------------------------------------------------
def _plot_gallery_default():
    flag = os.environ.get("SKPD_DOCS_PLOT")
    if flag is not None:
        return str(flag.strip().lower() not in ("0", "false", "no", ""))
    return "True"


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": _plot_gallery_default(),  # a string, so -D plot_gallery=0 overrides cleanly
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_patchdesc",),
    "backreferences_dir": "generated/backreferences",
    "remove_config_comments": True,
    "abort_on_example_error": False,
    "only_warn_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "show_memory": False,
    "show_signature": False,
    "promote_jupyter_magic": False,
    "first_notebook_cell": None,
}

# Examples run inside the Sphinx process and read SKPD_EXAMPLE_QUICK /
# SKPD_EXAMPLE_OUT from the environment as they do when run as scripts.
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------
#: shown on every page when the gallery ran with SKPD_EXAMPLE_QUICK=1 (make html-quick)
QUICK_MODE_BANNER = (
    "This build ran the gallery examples in <b>quick mode</b> (tiny data, one or two "
    "epochs): their printed numbers and figures only show that the code runs; they are "
    "not the results the text describes. <code>make -C docs html</code> runs them at "
    "full size.")


def _quick_mode():
    return os.environ.get("SKPD_EXAMPLE_QUICK") == "1" and \
        sphinx_gallery_conf["plot_gallery"] not in ("0", "False", False)


html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-patchdesc {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "announcement": QUICK_MODE_BANNER if _quick_mode() else "",
}
# pages without sub-pages: no empty left column, the text gets the width
html_sidebars = {"index": [], "seed_claims": [], "sources": [], "getting_started": []}
html_show_sourcelink = False
html_copy_source = False


# -- "seed 000" .. "seed 004" in docstrings link to the page naming them --------
_SEED = re.compile(r"(?<![`<\w])[Ss]eed[ -](00[0-4])\b")


def _link_seeds(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        if "``" not in line and "seed" in line.lower():
            lines[i] = _SEED.sub(lambda m: f":ref:`{m.group(0)} <seed-{m.group(1)}>`", line)


def _link_seeds_in_gallery(app, docname, source):
    # the gallery pages' prose starts at column 0; code and output are indented
    if docname.startswith("auto_examples/"):
        lines = source[0].split("\n")
        under = re.compile(r"^([=\-~^*#\"'`+])\1+\s*$")  # a title's underline follows
        prose = [i for i, line in enumerate(lines)
                 if line[:1] not in ("", " ", "\t", ".") and not under.match(line)
                 and not (i + 1 < len(lines) and under.match(lines[i + 1]))]
        texts = [lines[i] for i in prose]
        _link_seeds(app, "gallery", docname, None, {}, texts)
        for i, text in zip(prose, texts):
            lines[i] = text
        source[0] = "\n".join(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _link_seeds)
    app.connect("source-read", _link_seeds_in_gallery)
