"""Scorer strings in scikit-learn, whatever the import order (fresh interpreters)."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

NAMES = ["hpatches_verification", "hpatches_matching", "hpatches_retrieval",
         "hpatches_mean", "denoise_psnr", "denoise_ssim", "phototour_fpr95"]

SCRIPT = """
import sys
if {sk_first}:
    import sklearn.model_selection, sklearn.inspection, sklearn.feature_selection
    import sklearn.linear_model
import sklearn_patchdesc
import numpy as np
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import get_scorer, get_scorer_names, check_scoring
from sklearn.metrics._scorer import _SCORERS
from sklearn.model_selection import (GridSearchCV, RandomizedSearchCV, GroupKFold,
                                     cross_val_score, cross_validate, learning_curve,
                                     validation_curve, permutation_test_score)
from sklearn.inspection import permutation_importance
from sklearn.utils._param_validation import StrOptions
names = {names!r}
assert set(names) <= set(get_scorer_names()) and set(names) <= set(_SCORERS)
# every validation set of scorer names that scikit-learn built must know ours
sites = [cross_val_score, cross_validate, learning_curve, validation_curve,
         permutation_test_score, check_scoring, permutation_importance]
found = 0
for f in sites:
    for c in f._skl_parameter_constraints["scoring"]:
        if isinstance(c, StrOptions):
            assert set(names) <= c.options, f
            found += 1
for cls in (GridSearchCV, RandomizedSearchCV):
    for c in cls._parameter_constraints["scoring"]:
        if isinstance(c, StrOptions):
            assert set(names) <= c.options, cls
            found += 1
assert found == len(sites) + 2, found
for mod in list(sys.modules.values()):
    for obj in list(vars(mod).values()) if mod and mod.__name__.startswith("sklearn") else []:
        for cons in (getattr(obj, "_parameter_constraints", None),
                     getattr(obj, "_skl_parameter_constraints", None)):
            for opts in (cons.values() if isinstance(cons, dict) else []):
                for c in opts if isinstance(opts, list) else []:
                    if isinstance(c, StrOptions) and {{"accuracy", "r2"}} <= c.options:
                        assert set(names) <= c.options, obj

class Id(TransformerMixin, BaseEstimator):
    def __init__(self, scale=1.0): self.scale = scale
    def fit(self, X, y=None): return self
    def transform(self, X): return np.asarray(X) * self.scale

rng = np.random.default_rng(0)
n_seq, n_p = 4, 10
t = np.empty(n_seq * 16 * n_p, [("label", "i8"), ("sequence", "U8"), ("image", "i1")])
t["sequence"] = np.repeat([f"v_{{s}}" for s in range(n_seq)], 16 * n_p)
t["image"] = np.tile(np.repeat(np.arange(16), n_p), n_seq)
t["label"] = np.repeat(np.arange(n_seq), 16 * n_p) * n_p + np.tile(np.arange(n_p), 16 * n_seq)
X = rng.normal(size=(t["label"].max() + 1, 8))[t["label"]] + rng.normal(size=(len(t), 8)) * 0.3
g = t["sequence"]
s = cross_val_score(Id(), X, t, groups=g, cv=GroupKFold(2), scoring="hpatches_retrieval")
assert s.shape == (2,) and (s > 0.5).all(), s
s = cross_val_score(Id(), X, t["label"], cv=2, scoring="hpatches_mean")
assert (s > 0.5).all(), s
r = cross_validate(Id(), X, t, groups=g, cv=GroupKFold(2),
                   scoring={{"v": "hpatches_verification", "m": "hpatches_matching"}})
assert (r["test_v"] > 0.5).all() and (r["test_m"] > 0.5).all()
r = cross_validate(Id(), X, t, groups=g, cv=GroupKFold(2), scoring=["hpatches_mean", "hpatches_retrieval"])
gs = GridSearchCV(Id(), {{"scale": [1.0, 2.0]}}, scoring="hpatches_verification",
                  cv=GroupKFold(2)).fit(X, t, groups=g)
assert gs.best_score_ > 0.5
P = rng.random((6, 8, 8))
assert cross_val_score(Id(), P, P, cv=2, scoring="denoise_psnr").tolist() == [np.inf, np.inf]
assert np.allclose(cross_val_score(Id(), P, P, cv=2, scoring="denoise_ssim"), 1.0)
print("OK")
"""


@pytest.mark.parametrize("sk_first", [True, False])
def test_scorer_strings_in_fresh_interpreter(sk_first):
    code = SCRIPT.format(sk_first=sk_first, names=NAMES)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "OK" in res.stdout, (
        "scikit-learn scorer registration broke (sklearn_patchdesc.metrics._registry):\n"
        + res.stderr[-3000:])


def test_scorer_objects_and_errors():
    from sklearn_patchdesc.metrics import SCORERS, HPatchesScorer, hpatches_mean_scorer
    from sklearn.metrics import get_scorer

    assert set(SCORERS) == set(NAMES)
    assert isinstance(get_scorer("hpatches_mean"), HPatchesScorer)

    class Id:
        def transform(self, X):
            return X

    with pytest.raises(ValueError, match="needs y"):
        hpatches_mean_scorer(Id(), np.zeros((4, 2)), None)
    with pytest.raises(ValueError, match="clean patches"):
        SCORERS["denoise_psnr"](Id(), np.zeros((4, 8, 8)), np.arange(4))
    with pytest.raises(ValueError, match="task"):
        HPatchesScorer("nope")
