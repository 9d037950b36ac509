"""Small builders shared by the datasets tests (no generator needed)."""
import numpy as np
from sklearn.utils import Bunch

from sklearn_patchdesc.datasets._common import IMAGE_NAMES, make_target


def random_bunch(seqs=(("i_a", 3), ("v_b", 5)), size=65, images=IMAGE_NAMES,
                 noisy=False, seed=0):
    rng = np.random.default_rng(seed)
    names = [s for s, _ in seqs]
    counts = [n for _, n in seqs]
    target = make_target(names, counts, images)
    data = rng.integers(0, 256, size=(len(target), size, size), dtype=np.uint8)
    bunch = Bunch(data=data, target=target)
    if noisy:
        bunch.data_clean = rng.integers(0, 256, size=data.shape, dtype=np.uint8)
    return bunch
