"""The report returned by :func:`hpatches_evaluate`."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["HPatchesReport"]

_DIFF_LABEL = {"easy": "Easy", "hard": "Hard", "tough": "Tough", "all": "All"}
_GROUP_LABEL = {"v": "Viewpoint", "i": "Illumination", "other": "Other", "all": "All"}


def _pct(x):
    return "   -  " if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:6.2f}"


def _plain(obj, curves):
    if isinstance(obj, dict):
        return {str(k): _plain(v, curves) for k, v in obj.items()
                if curves or k not in ("pr", "roc")}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, list)):
        return [_plain(v, curves) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class HPatchesReport:
    """Results of the HPatches tasks (all numbers are fractions in [0, 1]).

    Made by :func:`hpatches_evaluate`; the parameters are its findings.

    Parameters
    ----------
    scores : dict of str to float
        The single number of each task that ran.
    details : dict
        See the attribute.
    protocol : {"record", "labels"}
        See the attribute.
    distance : str
        Descriptor distance used.
    split : str or None
        Official split whose task files were read (None: generated tasks).
    timings : dict
        See the attribute.

    Attributes
    ----------
    verification, matching, retrieval : float or None
        The single numbers of the tasks that were run (None if not run).
    details : dict
        Per task: every per-difficulty, per-negative-kind (verification),
        per-sequence-type (matching) and per-pool-size (retrieval) number.
    protocol : {"record", "labels"}
        Full HPatches protocol or the label-only one.
    timings : dict
        Wall seconds per task (``seconds``), the part spent computing
        distances (``distance_seconds``) and the process CPU seconds of all
        threads (``cpu_seconds``, steadier than wall time on a busy machine).
    """

    def __init__(self, scores, details, protocol, distance, split, timings):
        self.scores = dict(scores)
        self.details = details
        self.protocol = protocol
        self.distance = distance
        self.split = split
        self.timings = timings

    @property
    def verification(self):
        """Mean AP of patch verification (None if not run)."""
        return self.scores.get("verification")

    @property
    def matching(self):
        """Mean AP of image matching (None if not run)."""
        return self.scores.get("matching")

    @property
    def retrieval(self):
        """Mean AP of patch retrieval (None if not run)."""
        return self.scores.get("retrieval")

    @property
    def mean(self):
        """Mean of the single numbers of the tasks that ran (NaN ones left out)."""
        v = [s for s in self.scores.values() if s is not None and not math.isnan(s)]
        return float(np.mean(v)) if v else float("nan")

    @property
    def curves(self):
        """``{difficulty: {kind: {"pr": {...}, "roc": {...}}}}`` for verification."""
        ver = self.details.get("verification", {}).get("per_difficulty", {})
        return {d: {k: {c: r[c] for c in ("pr", "roc") if c in r} for k, r in kinds.items()}
                for d, kinds in ver.items()}

    def as_dict(self, curves=False):
        """Plain-Python dict of every number (and the curves with ``curves=True``).

        Parameters
        ----------
        curves : bool, default=False
            Keep the PR / ROC curves in ``details``.

        Returns
        -------
        report : dict
            JSON-serialisable (floats, lists, dicts, str, None).
        """
        return {"verification": self.verification, "matching": self.matching,
                "retrieval": self.retrieval, "mean": self.mean, "protocol": self.protocol,
                "distance": self.distance, "split": self.split,
                "details": _plain(self.details, curves), "timings": _plain(self.timings, True)}

    def to_table(self):
        """Text table in the layout of the HPatches paper (mAP in %).

        Returns
        -------
        table : str
        """
        lines = [f"HPatches results (protocol={self.protocol}, distance={self.distance}, "
                 f"split={self.split})   mAP [%]"]
        det = self.details
        if "verification" in det:
            per = det["verification"]["per_difficulty"]
            diffs = list(per)
            kinds = sorted({k for v in per.values() for k in v})
            head = f"{'':28s}" + "".join(f"{_DIFF_LABEL.get(d, d):>8s}" for d in diffs) + f"{'Mean':>8s}"
            for title, key in (("Verification, imbalanced AP", "ap"),
                               ("Verification, balanced AUC", "auc")):
                lines += ["", head.replace(" " * 28, f"{title:28s}", 1)]
                for k in kinds:
                    vals = [per[d].get(k, {}).get(key) for d in diffs]
                    ok = [v for v in vals if v is not None and not math.isnan(v)]
                    lines.append(f"  {k:26s}" + "".join(f"  {_pct(v)}" for v in vals)
                                 + f"  {_pct(float(np.mean(ok)) if ok else None)}")
            lines.append(f"  {'mean (imbalanced AP)':26s}{'':{8 * len(diffs)}s}  "
                         f"{_pct(det['verification']['imbalanced_ap'])}")
        if "matching" in det:
            per = det["matching"]["per_difficulty"]
            diffs = list(per)
            groups = sorted({g for v in per.values() for g in v if g != "mean"})
            lines += ["", f"{'Matching, mAP':28s}" + "".join(f"{_DIFF_LABEL.get(d, d):>8s}" for d in diffs)
                      + f"{'Mean':>8s}"]
            for g in groups + ["mean"]:
                vals = [per[d].get(g) for d in diffs]
                ok = [v for v in vals if v is not None and not math.isnan(v)]
                lines.append(f"  {_GROUP_LABEL.get(g, g):26s}" + "".join(f"  {_pct(v)}" for v in vals)
                             + f"  {_pct(float(np.mean(ok)) if ok else None)}")
        if "retrieval" in det:
            r = det["retrieval"]
            per = r["per_difficulty"]
            pools = r["pool_sizes"]
            lines += ["", f"{'Retrieval, mAP':16s}" + "".join(f"{k:>8d}" for k in pools)
                      + f"{'Mean':>8s}   ({r['n_queries']} queries, {r['n_distractors']} distractors)"]
            for d, t in per.items():
                lines.append(f"  {_DIFF_LABEL.get(d, d):14s}" + "".join(f"  {_pct(t['pools'][k])}" for k in pools)
                             + f"  {_pct(t['mean'])}")
        lines += ["", "Summary  " + "  ".join(f"{t}: {_pct(s).strip()}" for t, s in self.scores.items())
                  + f"  mean: {_pct(self.mean).strip()}"]
        return "\n".join(lines)

    __str__ = to_table

    def __repr__(self):
        vals = ", ".join(f"{k}={v:.4f}" for k, v in self.scores.items())
        return f"HPatchesReport({vals}, mean={self.mean:.4f}, protocol={self.protocol!r})"
