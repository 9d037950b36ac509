"""Generate the API reference page from the packages' ``__all__``.

``conf.py`` calls :func:`write_api_page` at every build, so a name added to a
subpackage's ``__all__`` shows up in the reference without editing any page.
The same :func:`public_api` is what ``tests/test_docs.py`` checks against.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

PACKAGE = "sklearn_patchdesc"

#: one-line titles of the sections (other public modules get their docstring's first line)
TITLES = {
    "datasets": "Datasets: loaders, writers, generator, noise",
    "denoise": "Denoising",
    "describe": "Descriptors, losses, samplers and training strategies",
    "metrics": "Metrics: HPatches tasks, denoising metrics, scorers",
    "model_selection": "Model selection",
    "inversion": "Feature inversion",
    "plotting": "Plotting",
    "persistence": "Saving and loading models",
    "pipeline": "Pipelines",
    "utils": "Utilities",
}


def public_modules():
    """Names of the public subpackages / modules of the package, sorted."""
    pkg = importlib.import_module(PACKAGE)
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__)
             if not m.name.startswith("_")]
    return sorted(names)


def _module_names(mod):
    names = getattr(mod, "__all__", None)
    if names is None:  # no __all__: the public functions/classes defined there
        names = [n for n, obj in vars(mod).items()
                 if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
                 and getattr(obj, "__module__", None) == mod.__name__]
    return sorted(names, key=lambda n: (n.lower(), n))


def public_api():
    """``{module: [public names]}`` for every public module of the package."""
    out = {}
    for name in public_modules():
        mod = importlib.import_module(f"{PACKAGE}.{name}")
        out[name] = _module_names(mod)
    return out


def _kind(obj):
    if inspect.isclass(obj):
        return "classes"
    if callable(obj) and (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
        return "functions"
    return "data"


def render():
    """reStructuredText of the API reference page."""
    lines = [
        ".. _api:",
        "",
        "=============",
        "API reference",
        "=============",
        "",
        "Every public name of every subpackage, generated from the subpackages'",
        "``__all__`` at build time (see ``docs/_apigen.py``). Everything not listed",
        "here (names starting with an underscore, private modules) may change",
        "without notice.",
        "",
    ]
    for modname, names in public_api().items():
        full = f"{PACKAGE}.{modname}"
        mod = importlib.import_module(full)
        title = f":mod:`{full}`: {TITLES.get(modname) or (mod.__doc__ or modname).strip().splitlines()[0].rstrip('.')}"
        lines += [title, "=" * len(title), "", f".. automodule:: {full}", "   :no-members:",
                  "   :no-inherited-members:", "", f".. currentmodule:: {full}", ""]
        groups = {"classes": [], "functions": [], "data": []}
        for n in names:
            groups[_kind(getattr(mod, n))].append(n)
        for kind, members in groups.items():
            if not members:
                continue
            # the path under templates_path: a bare "class.rst" is not found and
            # autosummary silently falls back to its own base template
            template = {"classes": "autosummary/class.rst",
                        "functions": "autosummary/function.rst",
                        "data": "autosummary/data.rst"}[kind]
            lines += [kind.capitalize(), "-" * len(kind), "",
                      ".. autosummary::", "   :toctree: generated/",
                      f"   :template: {template}", ""]
            lines += [f"   {n}" for n in members]
            lines.append("")
    return "\n".join(lines) + "\n"


def write_api_page(path):
    """Write the page only when its text changed (keeps incremental builds fast)."""
    path = Path(path)
    text = render()
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path
