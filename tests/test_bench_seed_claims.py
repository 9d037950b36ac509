"""benchmarks/bench_seed_claims.py: interval verdicts, saturation rule, resumable smoke run."""
import json

import numpy as np
import pytest
from _benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_seed_claims")


def test_paired_interval_is_the_t_interval_of_the_differences(bench):
    mean, lo, hi = bench.paired_interval([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    # sd 1, n 3, t(0.975, 2) = 4.3027
    assert mean == pytest.approx(2.0)
    assert (lo, hi) == pytest.approx((2 - 4.3027 / np.sqrt(3), 2 + 4.3027 / np.sqrt(3)), abs=1e-3)
    assert np.isnan(bench.paired_interval([1.0], [0.0])[1])


def _claim(bench, **kw):
    return bench.Claim("k", "000", "A beats B", bench.MAP, "A", "B", run=None, **kw)


def _recs(a, b, top=0.5):
    scores = {t: top for t in ("verification", "matching", "retrieval")}
    return [{"a": x, "b": y, "scores": {"A": scores, "B": scores}} for x, y in zip(a, b)]


def test_verdict_follows_the_interval(bench):
    claim = _claim(bench)
    assert bench.judge(claim, _recs([0.6, 0.61, 0.62], [0.5, 0.5, 0.51]))[0] == "holds"
    assert bench.judge(claim, _recs([0.4, 0.41, 0.42], [0.5, 0.5, 0.51]))[0] == "does not hold"
    assert bench.judge(claim, _recs([0.6, 0.4, 0.52], [0.5, 0.5, 0.5]))[0] == "cannot tell"
    # a tolerance ("A within 0.2 of B") moves the threshold to -0.2
    close = _claim(bench, tolerance=0.2)
    assert bench.judge(close, _recs([0.4, 0.41, 0.42], [0.5, 0.5, 0.51]))[0] == "holds"
    assert bench.judge(claim, _recs([0.6], [0.5]))[0] == "cannot tell"


def test_a_saturated_task_gives_cannot_tell(bench):
    verdict, why, _ = bench.judge(_claim(bench), _recs([0.6, 0.61, 0.62], [0.5, 0.5, 0.51],
                                                       top=0.95))
    assert verdict == "cannot tell" and "saturated" in why
    psnr = _claim(bench, uses_map=False)
    assert bench.judge(psnr, _recs([0.6, 0.61, 0.62], [0.5, 0.5, 0.51], top=0.95))[0] == "holds"


def test_collapse_premise_needs_the_collapse(bench):
    def rec(big, stepped):
        return {"a": 1.0, "b": 0.9, "big": {"collapsed_epoch": big},
                "stepped": {"collapsed_epoch": stepped}}

    claim = bench.CLAIMS["stepped_avoids_collapse"]
    assert bench.judge(claim, [rec(None, None)] * 3)[0] == "cannot tell"
    assert bench.judge(claim, [rec(2, 3)] * 3)[0] == "does not hold"


def test_quick_run_writes_results_table_figure_and_resumes(bench, tmp_path, capsys):
    out, results = tmp_path / "table.rst", tmp_path / "results.json"
    argv = ["--quick", "--no-real", "--only", "deep_vs_shallow_unet", "--seeds", "0", "1",
            "--results", str(results), "--out", str(out), "--figures", str(tmp_path / "fig")]
    assert bench.main(argv) == 0
    stored = json.loads(results.read_text())
    recs = stored["claims"]["deep_vs_shallow_unet"]
    assert sorted(recs) == ["0", "1"]
    assert all(np.isfinite(r["a"]) and np.isfinite(r["b"]) for r in recs.values())
    table = out.read_text()
    assert "**Partial run**" in table and "``batch_hard_vs_random``" in table
    assert "deep_vs_shallow_unet.png" in table and "95 % CI" in table
    assert (tmp_path / "fig" / "deep_vs_shallow_unet.png").stat().st_size > 0
    # a second invocation finds both seeds done and measures nothing again
    capsys.readouterr()
    assert bench.main(argv) == 0
    assert capsys.readouterr().out.count("already in") == 2
    again = json.loads(results.read_text())
    assert again["claims"] == stored["claims"] and len(again["sessions"]) == 2
    # other settings must not mix into the same file
    with pytest.raises(SystemExit, match="other settings"):
        bench.main(argv[:-6] + ["--seeds", "0", "--results", str(results), "--no-write"])


def test_two_writers_of_one_results_file_keep_each_others_records(bench, tmp_path):
    path = tmp_path / "results.json"
    first, second = bench.Results(path, bench.QUICK), bench.Results(path, bench.QUICK)
    first.put("n2n_vs_clean", 0, {"a": 1.0, "b": 2.0, "seconds": 1.0})
    second.put("deep_vs_shallow_unet", 1, {"a": 3.0, "b": 4.0, "seconds": 1.0})
    first.put("n2n_vs_clean", 1, {"a": 5.0, "b": 6.0, "seconds": 1.0})
    stored = json.loads(path.read_text())["claims"]
    assert sorted(stored) == ["deep_vs_shallow_unet", "n2n_vs_clean"]
    assert sorted(stored["n2n_vs_clean"]) == ["0", "1"]
    assert bench.Results(path, bench.QUICK).records("deep_vs_shallow_unet")[0]["a"] == 3.0


def test_fresh_start_sets_old_records_aside_and_never_merges_them_back(bench, tmp_path):
    path = tmp_path / "results.json"
    old = bench.Results(path, bench.QUICK)
    old.put("n2n_vs_clean", 0, {"a": 1.0, "b": 2.0, "seconds": 1.0})
    old.put("n2n_vs_clean", 1, {"a": 1.0, "b": 2.0, "seconds": 1.0})
    fresh = bench.Results(path, bench.QUICK, fresh=True)
    assert fresh.get("n2n_vs_clean", 1) is None
    fresh.put("n2n_vs_clean", 0, {"a": 7.0, "b": 8.0, "seconds": 1.0})
    # the save merged with the disk: the old seed-1 record must not have come back
    assert fresh.get("n2n_vs_clean", 1) is None
    assert sorted(json.loads(path.read_text())["claims"]["n2n_vs_clean"]) == ["0"]
    kept = json.loads(fresh.previous.read_text())["claims"]["n2n_vs_clean"]
    assert sorted(kept) == ["0", "1"] and kept["0"]["a"] == 1.0


def test_saturation_counts_only_the_tasks_a_claim_is_decided_on(bench):
    def recs(verification, matching):
        scores = {"verification": verification, "matching": matching, "retrieval": 0.5}
        return [{"a": x, "b": y, "scores": {"A": scores, "B": scores}}
                for x, y in zip([0.6, 0.61, 0.62], [0.5, 0.5, 0.51])]

    on_matching = _claim(bench, value="matching")
    assert on_matching.tasks == ("matching",) and _claim(bench).tasks == bench.TASKS
    # a saturated verification task cannot decide a claim made on matching
    assert bench.judge(on_matching, recs(0.97, 0.5))[0] == "holds"
    verdict, why, _ = bench.judge(on_matching, recs(0.5, 0.95))
    assert verdict == "cannot tell" and "0.950" in why
    # the mean mAP is made of all three tasks
    assert bench.judge(_claim(bench), recs(0.97, 0.5))[0] == "cannot tell"


class _NoLab:
    """Stands in for the data of a run whose claims are replaced by fakes."""

    def __init__(self, cfg, real=True):
        self.tr = np.array([True, False])
        self.te = ~self.tr
        self.held_out = ["i_x"]


def test_redo_measures_stored_claims_again_and_replaces_their_records(bench, tmp_path,
                                                                      monkeypatch):
    import dataclasses

    path = tmp_path / "results.json"
    bench.Results(path, dataclasses.replace(bench.QUICK, seeds=(0,))).put(
        "n2n_vs_clean", 0, {"a": 1.0, "b": 2.0, "seconds": 1.0})
    calls = []

    def run(lab, seed):
        calls.append(seed)
        return {"a": 3.0, "b": 2.0}

    monkeypatch.setitem(bench.CLAIMS, "n2n_vs_clean",
                        dataclasses.replace(bench.CLAIMS["n2n_vs_clean"], run=run))
    monkeypatch.setattr(bench, "Lab", _NoLab)
    argv = ["--quick", "--only", "n2n_vs_clean", "--seeds", "0", "--results", str(path),
            "--no-write"]
    assert bench.main(argv) == 0 and calls == []  # stored: not measured again
    assert bench.main(argv + ["--redo"]) == 0 and calls == [0]
    stored = json.loads(path.read_text())
    assert stored["claims"]["n2n_vs_clean"]["0"]["a"] == 3.0


def _tiny_lab(bench):
    """2 sequences x 3 points x 16 images of textured patches, and a cheap stand-in pipeline.

    The stand-in (a 3x3 box filter, then mean/std-normalised 8x8 pixels) keeps the
    test fast; the shipped pipeline itself is tested in test_pretrained_pipeline.
    """
    from scipy.ndimage import uniform_filter
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from sklearn_patchdesc.describe import RawPatchDescriptor

    rng = np.random.default_rng(0)
    n_labels, n_images = 6, 16
    base = rng.uniform(60, 190, (8, 8)) + rng.normal(0, 3, (n_labels, 8, 8))  # alike labels
    X = np.repeat(np.repeat(base, 4, axis=1), 4, axis=2)[np.repeat(np.arange(n_labels), n_images)]
    X = np.clip(X + rng.normal(0, 8, X.shape), 0, 255).astype(np.uint8)
    y = np.rec.fromarrays([np.repeat(np.arange(n_labels), n_images),
                           np.repeat(np.array(["i_a", "v_b"]), n_labels // 2 * n_images),
                           np.tile(np.arange(n_images), n_labels)],
                          names=["label", "sequence", "image"])
    lab = object.__new__(bench.Lab)
    lab.cfg, lab.X_clean, lab.y, lab.cache = bench.QUICK, X, y, {}
    lab.te = np.ones(len(X), bool)
    lab.shallow_unet = lambda seed: (_Identity(), 0.0)
    pipe = Pipeline([("denoise", FunctionTransformer(lambda P: uniform_filter(P, (1, 3, 3)))),
                     ("describe", RawPatchDescriptor(size=8).fit(X[:1]))])
    lab.cache["shipped"] = pipe, lab.score(pipe.named_steps["describe"].transform(X))
    return lab


class _Identity:
    def transform(self, X):
        return X


def test_shipped_pipeline_claim_compares_the_pipeline_with_its_hardnet_on_one_noise_draw(bench):
    lab = _tiny_lab(bench)
    rec = bench.run_shipped_pipeline(lab, 0)
    pipe, clean = lab.shipped()
    X = bench._noisy(lab.X_clean, lab.y, lab.cfg.data_seed + bench.SHIPPED_NOISE_OFFSET)
    assert rec["b"] == lab.score(pipe.named_steps["describe"].transform(X))["matching"]
    assert rec["a"] == lab.score(pipe.transform(X))["matching"] != rec["b"]
    assert rec["scores"]["A"]["matching"] == rec["a"] and rec["clean"] == clean
    # the pixel denoiser (here the identity) feeds the same descriptor on the same noisy copy
    assert rec["pixel"] == rec["scores"]["B"]
    # another seed is another noise draw
    assert bench.run_shipped_pipeline(lab, 1)["scores"]["B"] != rec["scores"]["B"]
