"""HPatches task definitions: patch lookup, task-file reading, task generation.

A patch is addressed as ``(sequence, image, idx)`` with ``image`` in 0..15
(0 = ref, 1..5 = e1..e5, 6..10 = h1..h5, 11..15 = t1..t5) and ``idx`` = label -
first (smallest) label of its sequence, as in ``shared/DESIGN.md``.  Task
files use ``t`` in 0..5; for difficulty ``d`` (0 easy, 1 hard, 2 tough) image
``t`` is ``0`` for ``t == 0`` and ``t + 5 d`` otherwise.

Generated tasks follow the sampling rules of the official generator
(``hpatches-benchmark/python/utils/tasks.py``):

* verification: a sequence uniformly at random, two distinct patch indices of
  it and two distinct image indices from 0..4 (the official generator draws
  from ``arange(5)``, so image 5 never appears); positive = first index in both
  images, intra negative = first index in the first image vs second index in
  the second image, inter negative = first patch vs a random patch of a random
  sequence in the second image.  One deliberate difference: our inter
  sequence is drawn among the *other* sequences (the official draws among all
  test sequences, so about 1/116 of its "inter" pairs are intra-sequence; on
  the few sequences of a cross-validation fold that would be a large share).
* retrieval: queries and distractors are ref patches drawn as (uniform
  sequence, uniform index) with replacement, over-sampled 4x / 10x, duplicates
  dropped keeping the first draw, distractors that are also queries dropped,
  then the first ``n_queries`` / ``n_distractors`` kept.  When the data has
  fewer than ``n_queries + n_distractors`` ref patches, ``n_queries`` is
  reduced to keep the requested queries:distractors ratio.  The official
  generator also drops patches with a pixel standard deviation <= 10; pixels are
  not available to the metrics, so that filter is skipped.

On data subsets (e.g. a cross-validation test fold) indices are drawn among
the patches present, and a generated pair or list entry whose patch is missing
for a difficulty is dropped for that difficulty only.  Task files, in
contrast, must be fully covered by the data: a missing sequence or patch is a
``ValueError``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .._validation import check_labels, is_record_target

__all__ = ["DIFFICULTIES", "PatchIndex", "image_of", "read_task_csv"]

DIFFICULTIES = ("easy", "hard", "tough")
N_IMAGES = 16


def image_of(t, d):
    """Image id (0..15) of task image ``t`` (0..5) at difficulty ``d`` (0..2)."""
    t = np.asarray(t, dtype=np.int64)
    return np.where(t == 0, 0, t + 5 * d)


class PatchIndex:
    """Vectorised ``(sequence, image, idx) -> row`` lookup built from a record target."""

    def __init__(self, target, n_samples):
        labels = check_labels(target, n_samples, name="target")
        seqs = np.asarray(target["sequence"]).astype(str)
        image = np.asarray(target["image"])
        if image.dtype.kind not in "iu":
            raise TypeError(f"target['image'] must be integers 0..15; got dtype {image.dtype}.")
        image = image.astype(np.int64)
        if image.min() < 0 or image.max() >= N_IMAGES:
            raise ValueError(
                "target['image'] must hold 0..15 (0 = ref, 1..5 = e1..e5, 6..10 = h1..h5, "
                f"11..15 = t1..t5); got values in [{image.min()}, {image.max()}]."
            )
        self.names, self.seq = np.unique(seqs, return_inverse=True)
        self.seq = self.seq.astype(np.int64)
        first = np.full(len(self.names), np.iinfo(np.int64).max)
        np.minimum.at(first, self.seq, labels)
        self.idx = labels - first[self.seq]
        self.image = image
        self.M = int(self.idx.max()) + 1
        keys = self._key(self.seq, image, self.idx)
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self._table = None
        size = len(self.names) * N_IMAGES * self.M
        if size <= 4 * len(keys) + (1 << 22):  # dense lookup table when compact
            self._table = np.full(size, -1, dtype=np.int64)
            self._table[keys] = np.arange(len(keys))
        dup = np.flatnonzero(self._keys[1:] == self._keys[:-1])
        if dup.size:
            r = self._order[dup[0]]
            raise ValueError(
                f"target holds the same patch twice (sequence {self.names[self.seq[r]]!r}, "
                f"image {image[r]}, label {labels[r]}); each (sequence, image, label) "
                "must be unique."
            )

    def _key(self, seq, image, idx):
        return (seq * N_IMAGES + image) * self.M + idx

    def rows(self, seq, image, idx):
        """Rows of the given patches, -1 where absent."""
        seq, image, idx = (np.asarray(a, dtype=np.int64) for a in (seq, image, idx))
        ok = (seq >= 0) & (idx >= 0) & (idx < self.M) & (image >= 0) & (image < N_IMAGES)
        key = np.where(ok, self._key(seq, image, idx), -1)
        if self._table is not None:
            return np.where(ok, self._table[np.maximum(key, 0)], -1)
        pos = np.minimum(np.searchsorted(self._keys, key), len(self._keys) - 1)
        hit = ok & (self._keys[pos] == key)
        return np.where(hit, self._order[pos], -1)

    def image_rows(self, seq, image):
        """Rows and idx of the patches of one (sequence, image), sorted by idx."""
        lo, hi = np.searchsorted(self._keys, [self._key(seq, image, 0),
                                              self._key(seq, image + 1, 0)])
        return self._order[lo:hi], self._keys[lo:hi] - self._key(seq, image, 0)

    def codes(self, names, *, source):
        """Sequence codes of ``names``; ValueError naming the missing ones."""
        names = np.asarray(names).astype(str)
        pos = np.minimum(np.searchsorted(self.names, names), len(self.names) - 1)
        found = self.names[pos] == names
        if not found.all():
            missing = sorted(set(names[~found].tolist()))
            raise ValueError(
                f"{source} references {len(missing)} sequence(s) absent from the data, "
                f"e.g. {missing[:5]}; pass descriptors of every sequence it uses."
            )
        return pos.astype(np.int64)

    def idx_lists(self, image=None):
        """Per sequence, the sorted patch indices present (in ``image`` if given).

        Returns ``(values, offsets, counts)`` in CSR form.
        """
        sel = slice(None) if image is None else self.image == image
        key = np.unique(self.seq[sel] * self.M + self.idx[sel])
        seq, values = np.divmod(key, self.M)
        counts = np.bincount(seq, minlength=len(self.names))
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return values, offsets, counts


def _draw_idx(rng, seqs, values, offsets, counts):
    return values[offsets[seqs] + (rng.random(len(seqs)) * counts[seqs]).astype(np.int64)]


def generate_verification(index, n_pairs, n_negatives, rng):
    """Verification pairs as dicts of (s1, t1, idx1, s2, t2, idx2) int arrays."""
    values, offsets, counts = index.idx_lists()
    eligible = np.flatnonzero(counts >= 2)
    empty = {k: np.empty(0, np.int64) for k in ("s1", "t1", "idx1", "s2", "t2", "idx2")}
    if eligible.size == 0 or n_pairs == 0:
        return {"pos": empty, "intra": empty, "inter": empty}
    s = rng.choice(eligible, n_pairs)
    i1 = (rng.random(n_pairs) * counts[s]).astype(np.int64)
    i2 = (rng.random(n_pairs) * (counts[s] - 1)).astype(np.int64)
    i2 += i2 >= i1
    idx1, idx2 = values[offsets[s] + i1], values[offsets[s] + i2]
    t1 = rng.integers(0, 5, n_pairs)
    t2 = rng.integers(0, 4, n_pairs)
    t2 += t2 >= t1
    pos = dict(s1=s, t1=t1, idx1=idx1, s2=s, t2=t2, idx2=idx1)
    intra = dict(s1=s, t1=t1, idx1=idx1, s2=s, t2=t2, idx2=idx2)
    present = np.flatnonzero(counts >= 1)
    n_neg = n_pairs if n_negatives is None else n_negatives
    if present.size < 2 or n_neg == 0:
        inter = empty
    else:
        m = min(n_neg, n_pairs)  # the first side repeats the positives' first patches
        reps = np.resize(np.arange(n_pairs), n_neg) if n_neg > n_pairs else np.arange(m)
        s1 = s[reps]
        j = rng.integers(0, present.size - 1, n_neg)
        j += j >= np.searchsorted(present, s1)
        s2 = present[j]
        inter = dict(s1=s1, t1=t1[reps], idx1=idx1[reps], s2=s2, t2=t2[reps],
                     idx2=_draw_idx(rng, s2, values, offsets, counts))
    return {"pos": pos, "intra": intra, "inter": inter}


def _draw_unique(rng, n_draws, values, offsets, counts, M, exclude=None):
    seqs = np.flatnonzero(counts >= 1)
    if seqs.size == 0 or n_draws == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    s = rng.choice(seqs, n_draws)
    idx = _draw_idx(rng, s, values, offsets, counts)
    key = s * M + idx
    _, first = np.unique(key, return_index=True)
    first.sort()
    s, idx = s[first], idx[first]
    if exclude is not None:
        keep = ~np.isin(s * M + idx, exclude)
        s, idx = s[keep], idx[keep]
    return s, idx


def shrink_queries(available, n_queries, n_distractors):
    """Queries to draw when fewer than ``n_queries + n_distractors`` ref patches exist.

    Keeps the requested queries:distractors ratio (official 10k:20k = 1:2) so
    that small sets still have distractors.
    """
    if available >= n_queries + n_distractors:
        return n_queries
    return max(1, available * n_queries // (n_queries + n_distractors))


def generate_retrieval(index, n_queries, n_distractors, rng):
    """Queries and distractors as ``(seq codes, idx)`` pairs of ref patches."""
    values, offsets, counts = index.idx_lists(image=0)
    n_queries = shrink_queries(int(counts.sum()), n_queries, n_distractors)
    qs, qi = _draw_unique(rng, 4 * n_queries, values, offsets, counts, index.M)
    # a query needs at least one counterpart in images 1..15
    has = np.zeros(len(qs), bool)
    for img in range(1, N_IMAGES):
        has |= index.rows(qs, np.full(len(qs), img), qi) >= 0
    qs, qi = qs[has][:n_queries], qi[has][:n_queries]
    ds, di = _draw_unique(rng, 10 * n_distractors, values, offsets, counts, index.M,
                          exclude=qs * index.M + qi)
    return (qs, qi), (ds[:n_distractors], di[:n_distractors])


# ---------------------------------------------------------------- task files
VERIF_COLUMNS = ("s1", "t1", "idx1", "s2", "t2", "idx2")
RETR_COLUMNS = ("s", "idx")


def task_path(tasks_dir, stem, split):
    if tasks_dir is None or split is None:
        raise ValueError("tasks_dir and split must be given together (or neither).")
    path = Path(tasks_dir) / f"{stem}_split-{split}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"HPatches task file not found: {path}")
    return path


def _line_of(path, k):
    """Line number (1-based, header = 1) of data row ``k`` (blank lines are skipped)."""
    with open(path, encoding="utf-8") as f:
        next(f, None)
        n = -1
        for line_no, line in enumerate(f, start=2):
            if line.strip():
                n += 1
                if n == k:
                    return line_no
    return None


def _bad_fields(path, n_fields):
    """``("path, line N", fields)`` of the first data line without ``n_fields`` fields."""
    with open(path, encoding="utf-8", errors="replace") as f:
        next(f, None)
        for line_no, line in enumerate(f, start=2):
            if line.strip() and line.count(",") != n_fields - 1:
                return f"{path}, line {line_no}", line.count(",") + 1
    return None


def _at(path, k):
    line = _line_of(path, int(k))
    return f"{path}, line {line}" if line is not None else str(path)


def read_task_csv(path, columns):
    """Read an official task CSV into a dict of column arrays (names str, ints int64).

    Every error names the file and, for a bad row, its line.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().strip().split(",")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text (CSV) file.") from None
    if tuple(h.strip() for h in header) != tuple(columns):
        raise ValueError(f"{path}, line 1: columns {header}; expected {list(columns)}.")
    try:
        with warnings.catch_warnings():  # blank lines are skipped, as the official reader does
            warnings.filterwarnings("ignore", message="Input line", category=UserWarning)
            raw = np.loadtxt(path, delimiter=",", dtype=str, skiprows=1, ndmin=2,
                             encoding="utf-8", comments=None)
    except (ValueError, UnicodeDecodeError) as exc:
        where = _bad_fields(path, len(columns))
        if where:
            raise ValueError(f"{where[0]}: {where[1]} comma-separated field(s); expected "
                             f"{len(columns)} ({', '.join(columns)}).") from None
        raise ValueError(f"{path}: cannot read the rows as {len(columns)} comma-separated "
                         f"fields ({exc}).") from None
    if raw.size == 0:
        raw = np.empty((0, len(columns)), dtype=str)
    if raw.shape[1] != len(columns):
        raise ValueError(f"{path}: rows must have {len(columns)} fields; got {raw.shape[1]}.")
    out = {}
    for k, name in enumerate(columns):
        col = np.char.strip(raw[:, k])
        if name.startswith("s"):
            out[name] = col
            continue
        ok = np.char.isdigit(np.char.lstrip(col, "-")) & (np.char.str_len(col) > 0)
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise ValueError(f"{_at(path, bad)}: column {name!r} must hold integers; "
                             f"got {str(col[bad])!r}.")
        out[name] = col.astype(np.int64)
        if name.startswith("idx") and out[name].size and out[name].min() < 0:
            bad = int(np.argmax(out[name] < 0))
            raise ValueError(f"{_at(path, bad)}: column {name!r} holds a negative patch "
                             f"index {out[name][bad]}.")
    return out


def _codes(index, names, path):
    try:
        return index.codes(names, source=str(path))
    except ValueError:
        known = np.isin(np.asarray(names).astype(str), index.names)
        bad = int(np.flatnonzero(~known)[0])
        raise ValueError(
            f"{_at(path, bad)}: sequence {str(names[bad])!r} is absent from the data "
            f"({int((~known).sum())} row(s) of the file reference absent sequences); "
            "pass descriptors of every sequence it uses.") from None


def read_verification_tasks(index, tasks_dir, split):
    out = {}
    for kind, stem in (("pos", "verif_pos"), ("intra", "verif_neg_intra"),
                       ("inter", "verif_neg_inter")):
        path = task_path(tasks_dir, stem, split)
        cols = read_task_csv(path, VERIF_COLUMNS)
        for t in ("t1", "t2"):
            bad = np.flatnonzero((cols[t] < 0) | (cols[t] > 5))
            if bad.size:
                raise ValueError(f"{_at(path, bad[0])}: column {t} must hold image indices "
                                 f"0..5 (0 = ref, 1..5 = e/h/t 1..5); got {cols[t][bad[0]]}.")
        cols["s1"] = _codes(index, cols["s1"], path)
        cols["s2"] = _codes(index, cols["s2"], path)
        out[kind] = cols
        out[kind]["_source"] = path
    return out


def read_retrieval_tasks(index, tasks_dir, split):
    """``(queries, distractors, queries_path)``; queries / distractors as ``(codes, idx)``."""
    res = []
    for stem in ("retr_queries", "retr_distractors"):
        path = task_path(tasks_dir, stem, split)
        cols = read_task_csv(path, RETR_COLUMNS)
        s = _codes(index, cols["s"], path)
        rows = index.rows(s, np.zeros_like(s), cols["idx"])
        check_present(rows, path, index, s, 0, cols["idx"])
        res.append((s, cols["idx"]))
    return res[0], res[1], task_path(tasks_dir, "retr_queries", split)


def check_present(rows, source, index, s, image, idx, *, line_of=None):
    """ValueError naming the first task row whose patch is absent from the data.

    ``source`` is the task file (its line is named) or a phrase; ``line_of``
    maps the position in ``rows`` to the file's data row (default: the same).
    """
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        k = missing[0]
        img = image if np.ndim(image) == 0 else np.asarray(image)[k]
        where = source
        if isinstance(source, Path):
            where = _at(source, k if line_of is None else line_of(k))
        have = index.idx[(index.seq == s[k]) & (index.image == int(img))]
        span = f"indices 0..{int(have.max())}" if have.size else "no patches"
        raise ValueError(
            f"{where}: references {missing.size} patch(es) absent from the data, e.g. "
            f"sequence {str(index.names[s[k]])!r}, image {int(img)}, idx {int(idx[k])} (the data "
            f"has {span} in that image); idx is label - first label of the sequence."
        )


def split_sequences(tasks_dir, split):
    """Test sequences of ``split`` from ``tasks_dir/splits.json`` (None if absent)."""
    if tasks_dir is None or split is None:
        return None
    path = Path(tasks_dir) / "splits.json"
    if not path.is_file():
        return None
    splits = json.loads(path.read_text())
    if split not in splits:
        raise ValueError(f"split {split!r} not in {path}; known: {sorted(splits)}.")
    return list(splits[split]["test"])


def record_or_labels(target, n_samples):
    """``("record", PatchIndex)`` or ``("labels", int64 labels)``."""
    if is_record_target(target):
        return "record", PatchIndex(target, n_samples)
    return "labels", check_labels(target, n_samples, name="target")
