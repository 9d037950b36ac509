"""Reader of the official HPatches train/test splits (``splits.json``)."""
import json
from pathlib import Path

from .._env import getenv

SPLITS_URL = "https://github.com/hpatches/hpatches-benchmark/blob/master/tasks/splits.json"
SPLIT_NAMES = ("a", "b", "c", "full", "illum", "view")


def _candidate_files(root):
    env = getenv("SPLITS")
    if env:
        yield Path(env)
    if root is not None:
        root = Path(root)
        for base in (root, root.parent):
            yield base / "splits.json"
            yield base / "tasks" / "splits.json"
            yield base / "hpatches-benchmark" / "tasks" / "splits.json"


def find_splits_file(splits_file=None, root=None):
    """Path of ``splits.json``: the given one, or one found next to ``root``."""
    if splits_file is not None:
        path = Path(splits_file)
        if not path.is_file():
            raise FileNotFoundError(f"splits file not found: {path}")
        return path
    tried = []
    for path in _candidate_files(root):
        tried.append(str(path))
        if path.is_file():
            return path
    raise FileNotFoundError(
        "HPatches splits.json not found"
        + (f" (looked in: {', '.join(tried)})" if tried else "")
        + ". It is not shipped with sklearn-patchdesc: get tasks/splits.json from the "
        f"hpatches-benchmark repository ({SPLITS_URL}) and pass splits_file=<path>, "
        "put it next to the data root, or set SKPD_SPLITS."
    )


def load_hpatches_splits(splits_file=None, root=None):
    """Read the official HPatches splits.

    Parameters
    ----------
    splits_file : path-like, default=None
        The ``splits.json`` of the hpatches-benchmark repository
        (``tasks/splits.json``). When None, the file is looked for in the
        ``SKPD_SPLITS`` environment variable, then as
        ``splits.json`` or ``tasks/splits.json`` in ``root`` and its parent.
    root : path-like, default=None
        The HPatches data root, used to look for the file.

    Returns
    -------
    splits : dict
        ``{split_name: {"train": [...], "test": [...]}}`` with sequence names.
        Splits ``a``, ``b``, ``c`` have 76 train and 40 test sequences; the
        test-only splits ``full`` (116), ``illum`` (57) and ``view`` (59) have
        an empty ``"train"`` list.

    Raises
    ------
    FileNotFoundError
        If no file is found; the message says where to get it.
    ValueError
        If the file is not valid JSON of that structure.
    """
    path = find_splits_file(splits_file, root)
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot parse splits file {path}: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"splits file {path} must hold a JSON object of splits")
    splits = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or "test" not in entry:
            raise ValueError(f"split {name!r} in {path} has no 'test' list")
        parts = {}
        for part in ("train", "test"):
            seqs = entry.get(part, [])
            if not isinstance(seqs, list) or not all(isinstance(s, str) for s in seqs):
                raise ValueError(f"split {name!r}/{part!r} in {path} must be a list of names")
            parts[part] = list(seqs)
        splits[str(name)] = parts
    return splits


def split_sequences(splits, split, subset):
    """Sequence names of ``split`` for ``subset`` in 'train', 'test', 'all'."""
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; the splits file has {sorted(splits)}")
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}")
    entry = splits[split]
    if subset == "train" and not entry["train"]:
        raise ValueError(f"split {split!r} is test-only: it has no 'train' subset")
    if subset == "all":
        return list(entry["train"]) + list(entry["test"])
    return list(entry[subset])
