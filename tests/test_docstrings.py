"""numpydoc validation of every public name, as the docs build runs it.

``docs/conf.py`` switches on ``numpydoc_validation_checks``; this test runs the
same checks directly with :func:`numpydoc.validate.validate` (seconds, no
Sphinx build) over the public names of the API reference and the public
methods and properties the library defines on its public classes (inherited
ones included, so ``transform`` / ``score`` of every estimator are covered).
"""
import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest
from numpydoc.validate import validate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import _apigen  # noqa: E402

sys.path.remove(str(ROOT / "docs"))


def _conf_value(name):
    """A literal assigned in docs/conf.py (read, not imported: conf.py writes api.rst)."""
    tree = ast.parse((ROOT / "docs" / "conf.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{name} not set in docs/conf.py")


CHECKS = _conf_value("numpydoc_validation_checks")
EXCLUDE = re.compile("|".join(_conf_value("numpydoc_validation_exclude")))


def _own_members(cls):
    """Public methods / properties of ``cls`` defined by the library (not by skorch,
    scikit-learn or torch)."""
    for attr in sorted(dir(cls)):
        if attr.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if attr in vars(k)), None)
        value = vars(owner)[attr] if owner is not None else None
        if owner is None or not owner.__module__.startswith("sklearn_patchdesc"):
            continue
        if inspect.isfunction(value) or isinstance(value, (property, classmethod,
                                                           staticmethod)):
            yield attr


def public_names():
    """Import paths of every public class and function and of their public members.

    Data (constants) are left to the docs build: their ``#:`` comments are not
    visible to :func:`numpydoc.validate.validate`, which would read the
    docstring of their type.
    """
    names = []
    for module, members in _apigen.public_api().items():
        mod = importlib.import_module(f"sklearn_patchdesc.{module}")
        for name in members:
            path = f"sklearn_patchdesc.{module}.{name}"
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                names += [path] + [f"{path}.{attr}" for attr in _own_members(obj)]
            elif inspect.isfunction(obj):  # callable instances (scorers) are data too
                names.append(path)
    return [n for n in names if not EXCLUDE.search(n)]


def _problems(name):
    return [f"{code}: {msg}" for code, msg in validate(name)["errors"]
            if code in CHECKS]


def test_docs_build_validates_the_docstrings():
    assert {"PR01", "PR02", "RT01", "GL08"} <= CHECKS
    assert EXCLUDE.search("sklearn_patchdesc.describe.CollapseMonitor.on_epoch_end")
    assert not EXCLUDE.search("sklearn_patchdesc.describe.L2NetDescriptor.transform")


@pytest.mark.parametrize("name", public_names())
def test_public_docstring_is_valid_numpydoc(name):
    assert _problems(name) == []
