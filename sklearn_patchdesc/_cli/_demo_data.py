"""Data of the demo: budget plan, built-in / real data, train/test split by sequence."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .._split import _n_held_out, held_out_groups, interleaved_order
from ._common import CLIError, note, read_image_sequences, user_input

#: share of sequences held out for testing (seed 000: 40 of 116)
TEST_FRACTION = 0.35


@dataclass
class Plan:
    """Sizes and epochs of one demo run, derived from ``--budget``.

    Budget 1 is about 5-6 minutes on a 2-core CPU; costs grow about
    linearly with the budget (training epochs and sizes grow as its square
    root, the points per sequence linearly).
    """

    budget: float
    n_sequences: int
    n_patches: int
    denoiser_epochs: int
    denoiser_patches: int
    l2net_epochs: int
    l2net_triplets: int
    hardnet_epochs: int
    hardnet_patches: int

    @classmethod
    def from_budget(cls, budget):
        """Plan for a budget (1.0 = the default few-minute run)."""
        r = math.sqrt(budget)
        return cls(
            budget=float(budget),
            # 7 sequences hold both photos the shipped descriptor never saw (test set)
            n_sequences=8 if budget >= 0.5 else 7,
            # points per sequence: about HPatches' density at the default budget (its
            # sequences hold a few hundred to 2,000 patches; the median one has at least
            # 1,484 by the official task files), so retrieval ranks each query among
            # ~1,000 distractors and matching among ~1,000 candidates; at 200 points
            # retrieval saturated (SIFT 1.000 easy, 0.987 hard). Linear in the budget
            # because task costs grow faster than linearly with it.
            n_patches=int(np.clip(round(1000 * budget), 24, 3000)),
            denoiser_epochs=int(np.clip(round(6 * r), 1, 50)),
            denoiser_patches=int(max(256, round(5000 * r))),
            l2net_epochs=int(np.clip(round(3 * r), 1, 100)),
            l2net_triplets=int(max(128, round(3000 * r))),
            hardnet_epochs=int(np.clip(round(2 * r), 1, 50)),
            hardnet_patches=int(max(1024, round(12000 * r))),
        )

    def as_dict(self):
        """Plain dict (for results.json)."""
        return asdict(self)


def _is_hpatches_folder(root):
    return any(p.is_dir() and ((p / "ref.png").is_file() or (p / "ref_noise.png").is_file())
               for p in root.iterdir())


def _keep_first_patches(bunch, n_patches):
    """Keep patch indices < ``n_patches`` of every sequence (all 16 images)."""
    t = bunch.target
    seqs, inv = np.unique(t["sequence"], return_inverse=True)
    first = np.full(len(seqs), np.iinfo(np.int64).max)
    np.minimum.at(first, inv, t["label"])
    keep = (t["label"] - first[inv]) < n_patches
    bunch.data, bunch.target = bunch.data[keep], t[keep]
    if "data_clean" in bunch:
        bunch.data_clean = bunch.data_clean[keep]
    return bunch


def _pick_sequences(names, n, rng):
    """Up to ``n`` sequence names, as many viewpoint as illumination ones when possible."""
    return sorted(interleaved_order([str(s) for s in names], rng)[:n])


def shipped_training_sequences(descriptor, pipeline=None):
    """Names of the sequences the shipped descriptor (and the shipped pipeline's
    denoiser) were trained on, from their model cards (``training_data.sequences``)."""
    from ..describe import pretrained_card

    names = set(pretrained_card(descriptor)["training_data"]["sequences"])
    if pipeline is not None:
        from ..pipeline import pretrained_pipeline_card

        names |= set(pretrained_pipeline_card(pipeline)["training_data"]["sequences"])
    return frozenset(names)


def _builtin_sequences_with_held_out_photos(n_seq, held_out, rng):
    """``n_seq`` built-in synthetic sequences that include the held-out photos.

    The built-in generator cycles through the bundled photos in a fixed order
    in which the held-out ones come 4th and 7th, so fewer than 7 sequences
    would hold none and leave the demo nothing it may test on. Here they come
    first (at most ``n_seq - 1`` of them: one sequence must stay for
    training), each with the kind and name the generator gives it.
    """
    from ..datasets._synth import builtin_photos, synthetic_sequence

    photos = builtin_photos()
    kinds = {name: "v" if j % 2 == 0 else "i" for j, (name, _) in enumerate(photos)}
    test = [(n, img) for n, img in photos if n in held_out][:max(1, n_seq - 1)]
    rest = [(n, img) for n, img in photos if n not in held_out]
    seqs = []
    for name, img in (test + rest)[:n_seq]:
        s = synthetic_sequence(name, img, kinds[name], rng)
        seqs.append({"name": s.name, "images": s.images, "homographies": s.homographies,
                     "kind": kinds[name], "layout": "synthetic"})
    return seqs


def _photo(name):
    """The built-in photo of a sequence name (``v_coins2`` -> ``coins``)."""
    return name.split("_", 1)[-1].rstrip("0123456789")


def _complete_hpatches_folders(root):
    """Sequence folders of ``root`` with every stack; notes the incomplete ones."""
    from ..datasets import IMAGE_NAMES
    from ..datasets._hpatches_io import missing_files

    found, incomplete = [], []
    for p in sorted(root.iterdir()):
        noisy = (p / "ref_noise.png").is_file()
        if not p.is_dir() or not ((p / "ref.png").is_file() or noisy):
            continue
        (incomplete if missing_files(p, IMAGE_NAMES, noisy) else found).append(p.name)
    if incomplete:
        note(f"note: leaving out {len(incomplete)} incomplete sequence folder(s) of {root} "
             f"(a partial download?): {', '.join(incomplete[:5])}"
             + (" ..." if len(incomplete) > 5 else ""))
    if not found:
        raise CLIError(f"--data {root}: no complete sequence folder (ref.png, e1..e5, h1..h5, "
                       "t1..t5.png)")
    return found


def get_data(data_path, plan, random_state, n_sequences=None):
    """The demo's patch set: noisy ``data``, clean ``data_clean``, record ``target``.

    Parameters
    ----------
    data_path : Path or None
        None generates the built-in N-HPatches-style set; a folder is read as an
        HPatches / N-HPatches folder (sequence folders with ``ref.png``) or as
        image sequences with homographies (cut into patches by
        :func:`make_hpatches_like`).
    plan : Plan
    random_state : int
    n_sequences : int, optional
        Overrides ``plan.n_sequences`` for --data folders (default: the plan's,
        so a full HPatches release is sub-sampled to the budget).

    Returns
    -------
    bunch : Bunch
        ``data``, ``data_clean``, ``target``, ``source`` (a description).
    """
    from sklearn.utils import Bunch

    from ..datasets import add_patch_noise, load_hpatches, make_hpatches_like
    from ..datasets._common import image_noise_level

    rng = np.random.default_rng(random_state)
    n_seq = plan.n_sequences if n_sequences is None else n_sequences
    if data_path is None:
        from ..describe._pretrained import BUILTIN_HELDOUT

        note(f"generating the built-in N-HPatches-style set: {n_seq} sequences x "
             f"{plan.n_patches} points x 16 images ...")
        seqs = None if n_seq >= 7 else _builtin_sequences_with_held_out_photos(
            n_seq, BUILTIN_HELDOUT, rng)  # 7 and more hold them (see Plan.n_sequences)
        b = make_hpatches_like(sequences=seqs, n_sequences=n_seq,
                               n_patches_per_sequence=plan.n_patches, noise=True,
                               random_state=random_state, n_jobs=2)
        return Bunch(data=b.data, data_clean=b.data_clean, target=b.target, builtin=True,
                     source="built-in N-HPatches-style set (make_hpatches_like(noise=True))")
    if _is_hpatches_folder(data_path):
        found = _complete_hpatches_folders(data_path)
        names = _pick_sequences(found, n_seq, rng)
        note(f"loading {len(names)} sequences of {data_path} ...")
        with user_input(data_path):
            b = load_hpatches(data_path, sequences=names, patch_size=32, n_jobs=2)
        b = _keep_first_patches(b, plan.n_patches)
        if "data_clean" in b:
            return Bunch(data=b.data, data_clean=b.data_clean, target=b.target,
                         source=f"N-HPatches folder {data_path}")
        noisy = add_patch_noise(b.data, image_noise_level(b.target["image"]),
                                random_state=random_state)
        return Bunch(data=noisy, data_clean=b.data, target=b.target,
                     source=f"HPatches folder {data_path} + N-HPatches-style gaussian noise")
    seqs = read_image_sequences(data_path)
    names = set(_pick_sequences([s.name if s.name.startswith(("v_", "i_"))
                                 else f"{s.kind}_{s.name}" for s in seqs], n_seq, rng))
    seqs = [s for s in seqs if (s.name if s.name.startswith(("v_", "i_"))
                                else f"{s.kind}_{s.name}") in names]
    note(f"cutting patches from {len(seqs)} image sequences of {data_path} ...")
    b = make_hpatches_like(sequences=seqs, n_patches_per_sequence=plan.n_patches, noise=True,
                           random_state=random_state, n_jobs=2)
    return Bunch(data=b.data, data_clean=b.data_clean, target=b.target,
                 source=f"image sequences {data_path} (make_hpatches_like(noise=True))")


#: test sequences the demo needs: retrieval draws a query's distractors from other sequences
MIN_TEST_SEQUENCES = 2


def split_by_sequence(target, random_state, test_photos=None, trained_on=()):
    """Boolean test mask and test names: about 35 % of the sequences, at least two.

    With ``test_photos`` (built-in data), the sequences of those photos are the
    test sequences instead (the shipped descriptor was never trained on them).
    A sequence named in ``trained_on`` (the shipped models' training sequences,
    from their model cards) is never a test sequence: scoring a model on what
    it was trained on would overstate it. At least two sequences are tested
    (patch retrieval draws distractors from the other test sequences; with one
    it would score 1.0 whatever the descriptor) and one trains; data that
    cannot give that is a CLIError naming why.
    """
    seq = np.asarray(target["sequence"]).astype(str)
    names = sorted(set(seq))
    if len(names) < MIN_TEST_SEQUENCES + 1:
        raise CLIError(f"the demo needs at least {MIN_TEST_SEQUENCES + 1} sequences (two to "
                       "test: patch retrieval takes its distractors from other sequences; one "
                       f"to train); the data has {len(names)}")
    if test_photos is not None:
        test = [n for n in names if _photo(n) in test_photos and n not in trained_on]
        if MIN_TEST_SEQUENCES <= len(test) < len(names):
            return np.isin(seq, test), test
    candidates = [n for n in names if n not in trained_on]
    if len(candidates) < MIN_TEST_SEQUENCES:
        raise CLIError(
            f"the data has {len(candidates)} sequence(s) the shipped models were not trained "
            f"on ({', '.join(candidates) or 'none'}; of {', '.join(names)}), and the demo tests "
            f"on at least {MIN_TEST_SEQUENCES} of those: it does not score a model on its own "
            "training data (the model cards list it: describe.pretrained_card(...)"
            "['training_data']['sequences']): give --data with other sequences as well")
    rng = np.random.default_rng(random_state)
    if len(candidates) == len(names):
        test = [str(s) for s in held_out_groups(names, TEST_FRACTION, random_state)]
        more = [n for n in interleaved_order(names, rng) if n not in test]
        test = sorted(test + more[:max(0, MIN_TEST_SEQUENCES - len(test))])
        return np.isin(seq, test), test
    trained = [n for n in names if n in trained_on]
    note(f"note: {', '.join(trained)} never go to the test set: the shipped models were "
         "trained on them (model cards)")
    n_test = min(len(candidates), max(MIN_TEST_SEQUENCES, _n_held_out(TEST_FRACTION, len(names))))
    test = sorted(interleaved_order(candidates, rng)[:n_test])
    return np.isin(seq, test), test


def label_subset(target, rows, n_rows, rng):
    """Rows of a random subset of points (all their images) with about ``n_rows`` rows."""
    labels = target["label"][rows]
    uniq = np.unique(labels)
    per_label = len(labels) / max(len(uniq), 1)
    k = min(len(uniq), max(2, int(math.ceil(n_rows / per_label))))
    chosen = rng.choice(uniq, size=k, replace=False)
    return rows[np.isin(labels, chosen)]


def describe_source(path):
    """Validate ``--data`` early (before any work): a folder that exists."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"--data folder not found: {path}")
    if not path.is_dir():
        raise CLIError(f"--data is not a folder: {path}")
    return path
