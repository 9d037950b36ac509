"""Image matching: nearest-neighbour matching of ref patches into each target image.

Protocol (HPatches): for every sequence, difficulty and target image 1..5 of
that difficulty, each ref descriptor is matched to its nearest neighbour among
the target image's descriptors; a match is correct when it is the same patch
index (the first target patch among exactly tied nearest ones, as ``argmin``
on the official distance matrix).  The matches are ranked by distance (ties in
ref patch order) and AP is computed with the number of positives = number of
ref patches (so wrong matches can never be recovered).  With
``ties="pessimistic"`` a tie counts against the descriptor instead: a wrong
tied neighbour is chosen and wrong matches rank first among equal distances.
Aggregation as the official ``results.py``: per sequence and difficulty the
mean over the 5 images; per difficulty the mean over the sequences of each type
(``v_`` viewpoint, ``i_`` illumination, anything else "other") and then over the
types; the single number is the mean over difficulties of that.

On subsets, a ref patch whose counterpart is absent from the target image is
not a query for that image (so the number of positives is the number of ref
patches that can be matched); images absent from the data are skipped.
"""
from __future__ import annotations

import numpy as np

from ._distances import Timer, nearest_neighbours
from ._ranking import ap_from_positions
from ._tasks import DIFFICULTIES

__all__ = ["record_matching", "label_matching", "sequence_type"]


def sequence_type(name):
    head = str(name).split("_", 1)[0]
    return head if head in ("v", "i") and "_" in str(name) else "other"


def _match_ap(X, q_rows, q_key, c_rows, c_key, distance, timer, ties):
    against = (q_key, c_key) if ties == "pessimistic" else None
    with timer:
        nn, dist = nearest_neighbours(X[q_rows], X[c_rows], distance, against=against)
    correct = c_key[nn] == q_key
    if ties == "pessimistic":  # wrong matches first among equal distances
        order = np.lexsort((correct, dist))
    else:  # the official stable order: query (ref patch) order
        order = np.argsort(dist, kind="stable")
    positions = np.flatnonzero(correct[order])
    return float(ap_from_positions(positions, len(q_rows))), float(correct.mean())


def record_matching(X, index, distance, sequences=None, timer=None, ties="official"):
    """Per-sequence APs and the aggregated numbers for a record target."""
    timer = timer or Timer()
    codes = (np.arange(len(index.names)) if sequences is None
             else index.codes(sequences, source="split test sequences"))
    per_seq = {}
    for s in codes:
        ref_rows, ref_idx = index.image_rows(s, 0)
        if ref_rows.size == 0:
            continue
        name = str(index.names[s])
        per_seq[name] = {}
        for d, diff in enumerate(DIFFICULTIES):
            aps, srs = [], []
            for i in range(1, 6):
                rows, idx = index.image_rows(s, i + 5 * d)
                q = np.isin(ref_idx, idx)
                if not q.any():
                    continue
                ap, sr = _match_ap(X, ref_rows[q], ref_idx[q], rows, idx, distance, timer,
                                   ties)
                aps.append(ap)
                srs.append(sr)
            if aps:
                per_seq[name][diff] = {"ap": float(np.mean(aps)), "images": len(aps),
                                       "success_rate": float(np.mean(srs))}
    table = {}
    for diff in DIFFICULTIES:
        groups = {}
        for name, res in per_seq.items():
            if diff in res:
                groups.setdefault(sequence_type(name), []).append(res[diff]["ap"])
        table[diff] = {g: float(np.mean(v)) for g, v in sorted(groups.items())}
        if groups:
            table[diff]["mean"] = float(np.mean([table[diff][g] for g in groups]))
    means = [t["mean"] for t in table.values() if "mean" in t]
    score = float(np.mean(means)) if means else float("nan")
    return {"per_difficulty": table, "per_sequence": per_seq}, score


def label_matching(X, labels, distance, timer=None, ties="official"):
    """Label-only matching: first occurrences matched among all other occurrences."""
    timer = timer or Timer()
    _, first, counts = np.unique(labels, return_index=True, return_counts=True)
    is_first = np.zeros(len(labels), bool)
    is_first[first] = True
    q_rows = np.sort(first[counts >= 2])
    c_rows = np.flatnonzero(~is_first)
    if q_rows.size == 0:
        return {"per_difficulty": {"all": {}}, "per_sequence": {}}, float("nan")
    ap, sr = _match_ap(X, q_rows, labels[q_rows], c_rows, labels[c_rows], distance, timer,
                       ties)
    return {"per_difficulty": {"all": {"all": ap, "mean": ap}}, "success_rate": sr,
            "per_sequence": {}}, ap
