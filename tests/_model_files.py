"""Read and rewrite the two members of a model file, for tests of altered files."""
import json
import zipfile

from safetensors.torch import save as st_save


def members(path):
    """``(manifest dict, tensors bytes)`` of the model file ``path``."""
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("manifest.json")), zf.read("tensors.safetensors")


def rewrite(path, manifest, tensors, name="altered.skpd"):
    """A model file beside ``path`` holding ``manifest`` and ``tensors`` (bytes or a dict)."""
    out = path.with_name(name)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("tensors.safetensors", tensors if isinstance(tensors, bytes)
                    else st_save(tensors))
    return out
