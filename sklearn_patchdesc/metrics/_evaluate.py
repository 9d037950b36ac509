"""Public HPatches task functions: verification, matching, retrieval, evaluate."""
from __future__ import annotations

import numbers
import time

import numpy as np

from ._distances import Timer, check_descriptors, check_distance, check_finite
from ._matching import label_matching, record_matching
from ._report import HPatchesReport
from ._retrieval import (POOL_SIZES, label_retrieval_lists, record_retrieval_lists,
                         retrieval_lists_ap, summarize)
from ._tasks import (generate_retrieval, generate_verification, read_retrieval_tasks,
                     read_verification_tasks, record_or_labels, split_sequences)
from ._verification import (label_verification_pairs, record_verification_pairs,
                            verification_from_pairs)

__all__ = ["hpatches_verification", "hpatches_matching", "hpatches_retrieval",
           "hpatches_evaluate", "UninformativeTaskError"]

TASKS = ("verification", "matching", "retrieval")
TIES = ("official", "pessimistic")

_PROTOCOL_DOC = """
    Two protocols, chosen from ``target``:

    * **record target** (fields ``label``, ``sequence``, ``image``; the loaders'
      output): the full HPatches protocol.  With ``tasks_dir`` and ``split``
      the official task files ``DIR/verif_pos_split-NAME.csv``,
      ``verif_neg_intra_...``, ``verif_neg_inter_...`` (columns
      ``s1,t1,idx1,s2,t2,idx2``) and ``retr_queries_...``,
      ``retr_distractors_...`` (columns ``s,idx``) are read; ``idx`` is the patch
      index inside its sequence (label - first label of the sequence) and every
      patch they reference must be present (else ``ValueError``).  Matching then
      uses the test sequences of ``DIR/splits.json`` when that file exists.
      Without task files the tasks are generated from ``random_state`` with the
      official sampling rules (see ``sklearn_patchdesc.metrics._tasks``) among
      the patches present, so any subset of the data works: pairs/lists whose
      patches are missing for a difficulty are dropped for that difficulty, and
      a difficulty, negative kind or image with nothing left is skipped (NaN in
      the report, left out of the means).
    * **1-D labels** (same label = same 3-D point): a label-only protocol.  The
      *reference* of a label is its first occurrence in sample order; its other
      occurrences are its positives.  Verification: positive pairs = two
      distinct occurrences of a label drawn uniformly among labels seen at least
      twice, negatives = the first patch of a positive pair against a random
      patch of another label (one negative kind, ``"different_label"``);
      balanced AUC / imbalanced AP as in HPatches.  Matching: every reference of
      a label seen at least twice is matched to its nearest neighbour among all
      non-reference patches; a match is correct when the labels agree; AP with
      numpos = number of such references.  Retrieval: up to ``n_queries``
      references (labels drawn without replacement) are queries; each list is
      the query's other occurrences followed by up to ``n_distractors``
      references of labels that are not queries (random order); AP at each
      pool size (with fewer than ``n_queries + n_distractors`` labels, the
      queries are cut to keep the queries:distractors ratio).  There is a single difficulty, ``"all"``.

    AP and AUC are the trapezoid areas of the PR / ROC curves of the ranking by
    distance with ties kept in list order, as the official benchmark computes
    them (see ``sklearn_patchdesc.metrics._ranking``).  Distances are float64
    with the arithmetic of SciPy's ``cdist`` (as the official code), so
    exactly tied distances stay tied (``sklearn_patchdesc.metrics._distances``)."""


def _rng(random_state, task_no):
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32))
    if random_state is None:
        return np.random.default_rng()
    if not isinstance(random_state, numbers.Integral) or random_state < 0:
        raise ValueError(f"random_state must be None, a non-negative int or a Generator; got {random_state!r}.")
    return np.random.default_rng([int(random_state), task_no])


def _check_count(name, value, allow_none=False):
    if value is None and allow_none:
        return value
    if not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _describe_row(kind, info):
    if kind == "labels":
        return lambda r: f"label {int(info[r])}"
    from ..datasets._common import IMAGE_NAMES

    def describe(r):
        img = int(info.image[r])
        return (f"sequence {str(info.names[info.seq[r]])!r}, image {IMAGE_NAMES[img]!r}, "
                f"patch index {int(info.idx[r])}")
    return describe


class UninformativeTaskError(ValueError):
    """The task would give any descriptor the same (top) score: refused, not scored.

    The one rule for :func:`hpatches_evaluate`, the task functions, the
    scorers and the ``evaluate`` command: a single label, retrieval queries
    without distractors, or (under the official tie rule) descriptors that are
    all identical.
    """


def _check_informative(X, kind, info, ties):
    """Refuse inputs on which the scores say nothing about the descriptor."""
    if kind == "labels" and np.unique(info).size < 2:
        raise UninformativeTaskError(
            f"target holds a single point label ({int(info[0])}) for all {len(info)} patches: "
            "every match and list is correct whatever the descriptor, so nothing can be "
            "scored. Give the labels of at least two 3-D points.")
    # column ranges of zero: every row equal, without a full-size boolean temporary
    if ties == "official" and X.shape[0] > 1 and np.array_equal(X.max(axis=0), X.min(axis=0)):
        raise UninformativeTaskError(
            f"all {X.shape[0]} descriptors are identical (every distance ties): under "
            "ties='official' tied distractors rank after the positives, so retrieval would "
            "score 1.0 for a descriptor that tells nothing apart. Check the descriptor "
            "(collapsed training, wrong file?), or pass ties='pessimistic' to score it (at "
            "chance level, as the model-selection scorers do).")


def _check_ties(ties):
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}; got {ties!r}.")
    return ties


def _prepare(descriptors, target, distance, tasks_dir, split, ties="official"):
    """Validated ``(X, distance used, protocol kind, index or labels, distance name)``."""
    _check_ties(ties)
    name = check_distance(distance)
    X, distance = check_descriptors(descriptors, name)
    if (tasks_dir is None) != (split is None):
        raise ValueError("tasks_dir and split must be given together (or neither).")
    kind, info = record_or_labels(target, X.shape[0])
    if kind == "labels" and tasks_dir is not None:
        raise ValueError("Task files need the record target (label, sequence, image); got 1-D labels.")
    check_finite(X, _describe_row(kind, info))
    _check_informative(X, kind, info, ties)
    return X, distance, kind, info, name


def _verification(X, distance, kind, info, tasks_dir, split, n_pairs, n_negatives,
                  random_state, curve_points, timer):
    n_pairs = _check_count("n_pairs", n_pairs)
    n_negatives = _check_count("n_negatives", n_negatives, allow_none=True)
    rng = _rng(random_state, 1)
    if kind == "labels":
        pairs = label_verification_pairs(info, n_pairs, n_negatives, rng)
    elif tasks_dir is not None:
        pairs = record_verification_pairs(info, read_verification_tasks(info, tasks_dir, split), True)
    else:
        pairs = record_verification_pairs(info, generate_verification(info, n_pairs, n_negatives, rng), False)
    res, ap, auc = verification_from_pairs(X, distance, pairs, curve_points=curve_points, timer=timer)
    return {"per_difficulty": res, "imbalanced_ap": ap, "balanced_auc": auc}, ap


def _matching(X, distance, kind, info, tasks_dir, split, timer, ties):
    if kind == "labels":
        return label_matching(X, info, distance, timer, ties)
    return record_matching(X, info, distance, split_sequences(tasks_dir, split), timer, ties)


def _retrieval(X, distance, kind, info, tasks_dir, split, n_queries, n_distractors,
               pool_sizes, random_state, timer, ties):
    n_queries = _check_count("n_queries", n_queries)
    n_distractors = _check_count("n_distractors", n_distractors)
    pool_sizes = tuple(int(_check_count("pool_sizes entries", k)) for k in pool_sizes)
    if not pool_sizes:
        raise ValueError("pool_sizes must hold at least one positive integer.")
    rng = _rng(random_state, 2)
    if kind == "labels":
        lists = label_retrieval_lists(info, n_queries, n_distractors, rng)
    elif tasks_dir is not None:
        q, d, q_path = read_retrieval_tasks(info, tasks_dir, split)
        lists = record_retrieval_lists(info, q, d, True, source=q_path)
    else:
        q, d = generate_retrieval(info, n_queries, n_distractors, rng)
        lists = record_retrieval_lists(info, q, d, False)
    q_rows, q_group, positives, d_rows, d_group = lists
    aps, n_listed = retrieval_lists_ap(X, distance, q_rows, q_group, positives, d_rows,
                                       d_group, pool_sizes, timer=timer, ties=ties)
    if n_listed.size and n_listed.min() == 0:
        where = "labels" if kind == "labels" else "sequences"
        raise UninformativeTaskError(
            f"retrieval: {int((n_listed == 0).sum())} of the {len(q_rows)} queries have no "
            f"distractor in their list (distractors come from the other {where} of the "
            f"data), so any descriptor would score 1.0 on them; score data with at least "
            f"two {where}.")
    table, score = summarize(aps, pool_sizes)
    return {"per_difficulty": table, "pool_sizes": pool_sizes,
            "n_queries": len(q_rows), "n_distractors": len(d_rows),
            "min_distractors_per_query": int(n_listed.min()) if n_listed.size else 0}, score


def hpatches_verification(descriptors, target, *, distance="l2", tasks_dir=None, split=None,
                          n_pairs=20000, n_negatives=None, random_state=0, ties="official"):
    """HPatches patch verification: mean imbalanced AP.

    Parameters
    ----------
    descriptors : array-like of shape (n_samples, n_features)
        One descriptor per patch (float; bits or packed bytes for Hamming).
    target : record array or array-like of shape (n_samples,)
        The loaders' record target (full protocol) or 1-D point labels
        (label-only protocol, see Notes).
    distance : {"l2", "l1", "hamming", "masked_l1"}, default="l2"
        ``masked_l1``: the official masked L1 (first half of the columns
        values, second half masks).
    tasks_dir, split : path-like and str, default=None
        Folder of official task files and split name (``"a"``, ``"full"``...).
    n_pairs : int, default=20000
        Generated positive pairs (and intra negatives); ignored with task files.
    n_negatives : int, default=None
        Generated inter-sequence negatives (default: ``n_pairs``).
    random_state : int, Generator or None, default=0
        Seed of the generated tasks.
    ties : {"official", "pessimistic"}, default="official"
        How exactly equal distances rank.  ``"official"``: as the official
        code (list order; see Notes).  ``"pessimistic"``: every tie counts
        against the descriptor (what the model-selection scorers use, so
        collapsed descriptors cannot score well).  Verification lists
        negatives first, so both give the same verification numbers.

    Returns
    -------
    score : float
        Mean imbalanced AP over {inter, intra} x {easy, hard, tough}, in [0, 1].

    Notes
    -----
    Per difficulty and negative kind, pairs are listed as ``[negatives;
    positives]``; imbalanced AP uses the first ``N_pos + int(0.2 N_pos)`` rows,
    balanced ROC AUC (in :func:`hpatches_evaluate`) all of them.
    """
    X, distance, kind, info, _ = _prepare(descriptors, target, distance, tasks_dir, split, ties)
    return _verification(X, distance, kind, info, tasks_dir, split, n_pairs, n_negatives,
                         random_state, 0, Timer())[1]


def hpatches_matching(descriptors, target, *, distance="l2", tasks_dir=None, split=None,
                      ties="official"):
    """HPatches image matching: mean AP of nearest-neighbour matches.

    Parameters
    ----------
    descriptors : array-like of shape (n_samples, n_features)
    target : record array or array-like of shape (n_samples,)
    distance : {"l2", "l1", "hamming", "masked_l1"}, default="l2"
    tasks_dir, split : path-like and str, default=None
        When ``tasks_dir/splits.json`` exists, only the split's test sequences
        are matched (all must be present).
    ties : {"official", "pessimistic"}, default="official"
        ``"official"``: the first of exactly tied nearest neighbours is the
        match and tied matches keep ref patch order.  ``"pessimistic"``: a
        wrong tied neighbour is chosen and wrong matches rank first.

    Returns
    -------
    score : float
        Mean over difficulties of the mean over sequence types (viewpoint,
        illumination) of the mean over sequences of the mean AP over images 1..5.
    """
    X, distance, kind, info, _ = _prepare(descriptors, target, distance, tasks_dir, split, ties)
    return _matching(X, distance, kind, info, tasks_dir, split, Timer(), ties)[1]


def hpatches_retrieval(descriptors, target, *, distance="l2", tasks_dir=None, split=None,
                       n_queries=1000, n_distractors=2000, pool_sizes=POOL_SIZES,
                       random_state=0, ties="official"):
    """HPatches patch retrieval: mean AP over difficulties and pool sizes.

    Parameters
    ----------
    descriptors : array-like of shape (n_samples, n_features)
    target : record array or array-like of shape (n_samples,)
    distance : {"l2", "l1", "hamming", "masked_l1"}, default="l2"
    tasks_dir, split : path-like and str, default=None
        Official ``retr_queries`` / ``retr_distractors`` files.
    n_queries, n_distractors : int, default=1000, 2000
        Sizes of generated tasks (at most: with fewer than ``n_queries +
        n_distractors`` distinct ref patches the queries are cut to keep this
        ratio); ignored with task files.
    pool_sizes : sequence of int, default=(100, 500, 1000, 5000, 10000, 15000, 20000)
        List lengths (positives included) at which AP is computed; a pool
        larger than the list is the whole list.
    random_state : int, Generator or None, default=0
    ties : {"official", "pessimistic"}, default="official"
        ``"official"``: a distractor at exactly the distance of a positive
        ranks after it (positives are listed first).  ``"pessimistic"``:
        before it.

    Returns
    -------
    score : float
        Mean over difficulties of the mean over pool sizes of the mean AP over
        queries (the official ``results.py`` aggregation).
    """
    X, distance, kind, info, _ = _prepare(descriptors, target, distance, tasks_dir, split, ties)
    return _retrieval(X, distance, kind, info, tasks_dir, split, n_queries, n_distractors,
                      pool_sizes, random_state, Timer(), ties)[1]


def hpatches_evaluate(descriptors, target, *, distance="l2", tasks_dir=None, split=None,
                      tasks=TASKS, n_pairs=20000, n_negatives=None, n_queries=1000,
                      n_distractors=2000, pool_sizes=POOL_SIZES, random_state=0,
                      curve_points=1001, ties="official"):
    """Run the HPatches tasks and return a full report.

    Parameters
    ----------
    descriptors, target, distance, tasks_dir, split
        As in :func:`hpatches_verification`, :func:`hpatches_matching` and
        :func:`hpatches_retrieval` (same numbers for the same arguments).
    tasks : sequence of {"verification", "matching", "retrieval"}, default=all
    n_pairs, n_negatives, n_queries, n_distractors, pool_sizes, random_state
        As in those three functions.
    curve_points : int, default=1001
        Points kept on each PR / ROC curve (evenly spaced along the ranking;
        0 = no curves).
    ties
        As in those three functions.

    Returns
    -------
    report : HPatchesReport
        ``.verification``, ``.matching``, ``.retrieval``, ``.mean``, every
        per-difficulty / negative-kind / pool-size number in ``.details``, the
        curves in ``.curves``, ``str(report)`` / ``report.to_table()`` and
        ``report.as_dict()``.
    """
    tasks = tuple(tasks)
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {TASKS}; got {tasks!r}.")
    X, distance, kind, info, name = _prepare(descriptors, target, distance, tasks_dir, split,
                                             ties)
    details, scores, timings = {}, {}, {}
    for task in TASKS:
        if task not in tasks:
            continue
        timer, t0, c0 = Timer(), time.perf_counter(), time.process_time()
        if task == "verification":
            out = _verification(X, distance, kind, info, tasks_dir, split, n_pairs,
                                n_negatives, random_state, curve_points, timer)
        elif task == "matching":
            out = _matching(X, distance, kind, info, tasks_dir, split, timer, ties)
        else:
            out = _retrieval(X, distance, kind, info, tasks_dir, split, n_queries,
                             n_distractors, pool_sizes, random_state, timer, ties)
        details[task], scores[task] = out
        timings[task] = {"seconds": time.perf_counter() - t0, "distance_seconds": timer.seconds,
                         "cpu_seconds": time.process_time() - c0}
    return HPatchesReport(scores=scores, details=details, protocol=kind, distance=name,
                          split=split, timings=timings)


for _f in (hpatches_verification, hpatches_matching, hpatches_retrieval, hpatches_evaluate):
    _doc = _f.__doc__.rstrip()
    if "    Notes\n    -----" not in _doc:
        _doc += "\n\n    Notes\n    -----"
    _f.__doc__ = _doc + "\n" + _PROTOCOL_DOC + "\n"
del _f, _doc
