"""Read and rewrite the two members of a model file, to build altered files.

Used by ``probe_bad_inputs.py`` and by the tests of altered model files (which
load it with ``tests/_benchmark_scripts.load_benchmark``): a script here cannot
import the tests, so the one copy lives here.
"""
import json
import zipfile

from safetensors.torch import save as st_save

from sklearn_patchdesc.persistence import MANIFEST, TENSORS


def members(path):
    """``(manifest dict, tensors bytes)`` of the model file ``path``."""
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(MANIFEST)), zf.read(TENSORS)


def rewrite(path, manifest, tensors, name="altered.skpd"):
    """A model file beside ``path`` holding ``manifest`` and ``tensors`` (bytes or a dict)."""
    out = path.with_name(name)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        zf.writestr(TENSORS, tensors if isinstance(tensors, bytes) else st_save(tensors))
    return out
