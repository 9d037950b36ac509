"""``evaluate DESCRIPTOR_DIR``: score descriptor CSVs in the official layout.

A drop-in for hpatches-benchmark's ``hpatches_eval.py`` + ``hpatches_results.py``:
the same descriptor files (``<dir>/<sequence>/<image>.csv``, one row per patch,
row = patch index) and the same task files, scored by
:func:`sklearn_patchdesc.metrics.hpatches_evaluate`.
"""
from __future__ import annotations

import json
from contextlib import nullcontext

import numpy as np

from ._common import (CLIError, existing_dir, json_safe, n_jobs, non_negative_int, note,
                      progress, user_input)

HELP = "score descriptor CSVs in the official HPatches layout"

DESCRIPTION = """\
Score descriptors stored in the official hpatches-benchmark layout,
DESCRIPTOR_DIR/<sequence>/<image>.csv (image = ref, e1..e5, h1..h5, t1..t5; one
row per patch, row k = patch index k), on the three HPatches tasks and print
the table of hpatches_results.py (mAP per difficulty easy / hard / tough).

With --tasks DIR the official task files of --split are used
(verif_pos_split-S.csv, verif_neg_intra_split-S.csv, verif_neg_inter_split-S.csv,
retr_queries_split-S.csv, retr_distractors_split-S.csv) and, when DIR holds
splits.json, only the split's test sequences are read and matched. A task whose
files are not in DIR is generated instead with the official sampling rules
(a note says so). Without --tasks every sequence found is scored with tasks
generated from --random-state.

Descriptors are read as float32 and every distance is computed in float64 as
the official code does, so the numbers are the official ones, exactly tied
distances included."""

EPILOG = """\
examples:
  python -m sklearn_patchdesc evaluate descriptors/sift
  python -m sklearn_patchdesc evaluate descriptors/sift --tasks hpatches-benchmark/tasks --split a
  python -m sklearn_patchdesc evaluate descriptors/sift --json > sift.json
  python -m sklearn_patchdesc evaluate liberty_sift.csv --phototour brown/liberty"""

TASKS = ("verification", "matching", "retrieval")
TASK_FILES = {"verification": ("verif_pos", "verif_neg_intra", "verif_neg_inter"),
              "matching": (),
              "retrieval": ("retr_queries", "retr_distractors")}


def add_parser(sub):
    """Register the ``evaluate`` subcommand."""
    import argparse

    p = sub.add_parser("evaluate", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       allow_abbrev=False)
    p.add_argument("descr_dir", metavar="DESCRIPTOR_DIR",
                   help="folder with one sub-folder of <image>.csv files per sequence")
    p.add_argument("--tasks", dest="tasks_dir", metavar="DIR",
                   help="folder of the official task files (hpatches-benchmark/tasks)")
    p.add_argument("--split", default=None, metavar="NAME",
                   help="split of the task files: a, b, c, full, illum, view "
                        "(default: a; needs --tasks)")
    p.add_argument("--delimiter", default=",", metavar="CHAR",
                   help="field delimiter of the descriptor CSVs (default: ',')")
    p.add_argument("--distance", "--dist", default="l2", type=str.lower,
                   choices=("l2", "l1", "hamming", "masked_l1"),
                   help="descriptor distance (default: l2); hamming for binary descriptors, "
                        "masked_l1 as the official code (columns: values, then masks)")
    p.add_argument("--task", dest="task", action="append", choices=TASKS,
                   help="run only this task (repeat for several; default: all three)")
    p.add_argument("--random-state", type=non_negative_int, default=0, metavar="N",
                   help="seed of generated tasks (default: %(default)s)")
    p.add_argument("--n-jobs", type=n_jobs, default=None, metavar="N",
                   help="parallel CSV readers (default: 1; -1 = all cores)")
    p.add_argument("--json", action="store_true",
                   help="print every number as JSON on stdout instead of the table")
    p.add_argument("--phototour", metavar="FOLDER", default=None,
                   help="score DESCRIPTOR_DIR, then one descriptor file (CSV or .npy, one row "
                        "per patch in patch-id order), on this Brown / PhotoTour set folder: "
                        "FPR at 95 %% recall on its m50_*_0.txt pairs")
    p.set_defaults(run=run)
    return p


# ------------------------------------------------------------------ reading
def find_sequences(root):
    """Sub-folders of ``root`` that hold at least one ``<image>.csv``."""
    from ..datasets import IMAGE_NAMES

    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and any((p / f"{n}.csv").is_file() for n in IMAGE_NAMES))


def _read_sequence(root, name, delimiter):
    from ..datasets import load_descriptors_csv

    # float32, as the official loader (values parsed, then cast to float32)
    with user_input(root / name):
        return load_descriptors_csv(root, delimiter=delimiter, dtype=np.float32,
                                    sequences=[name], return_X_y=True)


def read_descriptor_dir(root, sequences=None, delimiter=",", n_jobs=None):
    """Read descriptors in the official layout into ``(X, target)``.

    One :func:`~sklearn_patchdesc.datasets.load_descriptors_csv` call per
    sequence (in parallel with ``n_jobs``, with a progress bar), so sequences
    may differ in which images they have.

    Parameters
    ----------
    root : Path
        ``root/<sequence>/<image>.csv``.
    sequences : list of str, optional
        Sequences to read (all found when None); missing ones are an error.
    delimiter : str
    n_jobs : int, optional

    Returns
    -------
    X : ndarray (n, d) float32 (as the official code reads them)
    target : record array with ``label``, ``sequence``, ``image`` (as the loaders)
    """
    from joblib import Parallel, delayed

    if not delimiter:
        raise CLIError("--delimiter must not be empty")
    found = find_sequences(root)
    if sequences is None:
        if not found:
            nested = [p.name for p in sorted(root.iterdir())
                      if p.is_dir() and find_sequences(p)][:3]
            hint = (f"; did you mean {root / nested[0]}?" if nested else "")
            raise CLIError(f"no <sequence>/<image>.csv descriptor files in {root}{hint}")
        sequences = found
    else:
        missing = sorted(set(sequences) - set(found))
        if missing:
            raise CLIError(f"{len(missing)} sequence(s) of the split have no descriptor "
                           f"folder in {root}: {', '.join(missing[:5])}"
                           + (" ..." if len(missing) > 5 else ""))
    jobs = (delayed(_read_sequence)(root, s, delimiter) for s in sequences)
    parts = list(progress(Parallel(n_jobs=n_jobs, return_as="generator")(jobs),
                          total=len(sequences), desc="reading CSVs", unit="seq"))
    dims = {X.shape[1] for X, _ in parts}
    if len(dims) > 1:
        raise CLIError(f"descriptor files in {root} have different numbers of columns "
                       f"{sorted(dims)}; check --delimiter")
    for seq, (Xs, ts) in zip(sequences, parts):
        check_finite_csv(root, seq, Xs, ts)
    X = np.concatenate([X for X, _ in parts])
    width = max(len(s) for s in sequences)
    target = np.recarray(len(X), dtype=[("label", np.int64), ("sequence", f"U{width}"),
                                        ("image", np.int8)])
    pos = first = 0
    for _, t in parts:  # labels of each part start at 0: make them unique
        target[pos:pos + len(t)] = t
        target.label[pos:pos + len(t)] += first
        pos, first = pos + len(t), first + int(t["label"].max()) + 1
    return X, target


def check_finite_csv(root, sequence, X, target):
    """CLIError naming the file and line of the first NaN / infinity of a sequence."""
    from ..datasets import IMAGE_NAMES

    bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
    if bad.size:
        r = bad[0]
        col = int(np.flatnonzero(~np.isfinite(X[r]))[0])
        path = root / sequence / f"{IMAGE_NAMES[int(target['image'][r])]}.csv"
        # labels of one sequence's part start at 0: label = patch index = line - 1
        raise CLIError(f"{path}, line {int(target['label'][r]) + 1}: descriptor value "
                       f"{float(X[r, col])} in column {col + 1} is not finite (NaN or infinity; "
                       f"{bad.size} such row(s) in sequence {sequence!r})")


def check_distance_csv(root, X, target, distance):
    """CLIError naming ``--distance`` and the first file whose values it cannot use.

    The metric's own check (:func:`~sklearn_patchdesc.metrics._distances.check_descriptors`)
    decides; this only finds the file and line to name, before any scoring.
    """
    from ..datasets import IMAGE_NAMES
    from ..metrics._distances import check_descriptors

    try:
        check_descriptors(X, distance, name="descriptors")
    except ValueError as exc:
        where = ""
        if distance == "hamming":  # the first row holding a value other than 0 or 1
            bad = np.flatnonzero(~np.isin(X, (0.0, 1.0)).all(axis=1))
            if bad.size:
                r = int(bad[0])
                seq = target["sequence"][r]
                first = int(target["label"][target["sequence"] == seq].min())
                col = int(np.flatnonzero(~np.isin(X[r], (0.0, 1.0)))[0])
                path = root / str(seq) / f"{IMAGE_NAMES[int(target['image'][r])]}.csv"
                where = (f" ({path}, line {int(target['label'][r]) - first + 1}, column "
                         f"{col + 1}: {float(X[r, col])!r})")
        raise CLIError(f"--distance {distance}: {exc}{where}") from None


# ------------------------------------------------------------------ tasks
def split_test_sequences(tasks_dir, split):
    """Test sequences of ``split`` from ``splits.json`` in ``tasks_dir`` (or None)."""
    for path in (tasks_dir / "splits.json", tasks_dir / "splits" / "splits.json"):
        if path.is_file():
            try:
                splits = json.loads(path.read_text())
            except (ValueError, UnicodeDecodeError) as exc:
                raise CLIError(f"{path}: not valid JSON ({exc})") from None
            if split not in splits:
                raise CLIError(f"unknown split {split!r}; {path} has {sorted(splits)}")
            return list(splits[split]["test"])
    return None


def task_sources(tasks_dir, split, tasks):
    """Map each task to ``"files"`` (official task files), ``"split"`` (no files:
    matching on the split's test sequences of ``splits.json``) or ``"generated"``."""
    has_splits = tasks_dir is not None and any(
        (tasks_dir / p).is_file() for p in ("splits.json", "splits/splits.json"))
    out = {}
    for task in tasks:
        stems = TASK_FILES[task]
        have = tasks_dir is not None and all(
            (tasks_dir / f"{s}_split-{split}.csv").is_file() for s in stems)
        if have and stems:
            out[task] = "files"
        else:
            out[task] = "split" if have and has_splits else "generated"
    return out


def tasks_line(sources, split, random_state):
    """One line saying where the tasks came from (for the table header)."""
    generated = [t for t, s in sources.items() if s == "generated"]
    given = [t for t in sources if t not in generated]
    parts = []
    if given:
        parts.append(f"{', '.join(given)} from the task files of split {split!r}")
    if generated:
        parts.append(f"{', '.join(generated)} generated (random_state={random_state})")
    return "tasks: " + "; ".join(parts)


def evaluate(X, target, *, tasks, sources, tasks_dir, split, distance, random_state):
    """Run :func:`hpatches_evaluate` per task source and merge into one report."""
    from ..metrics import HPatchesReport, UninformativeTaskError, hpatches_evaluate

    groups = {}
    for task in tasks:
        groups.setdefault(sources[task] == "generated", []).append(task)
    reports = []
    for generated, group in groups.items():
        kw = {} if generated else {"tasks_dir": tasks_dir, "split": split}
        # only the task files are user input here; a ValueError of generated tasks is a bug
        try:
            with user_input(f"task files of split {split!r} in {tasks_dir}") \
                    if not generated else nullcontext():
                reports.append(hpatches_evaluate(X, target, distance=distance, tasks=group,
                                                 random_state=random_state, **kw))
        except CLIError as exc:
            if isinstance(exc.__cause__, UninformativeTaskError):
                raise CLIError(f"not scored: {exc.__cause__}") from exc.__cause__
            raise
        except UninformativeTaskError as exc:  # one sequence, identical descriptors
            raise CLIError(f"not scored: {exc}") from exc
    if len(reports) == 1:
        return reports[0]
    scores, details, timings = {}, {}, {}
    for task in tasks:
        rep = next(r for r in reports if task in r.scores)
        scores[task], details[task] = rep.scores[task], rep.details[task]
        timings[task] = rep.timings[task]
    return HPatchesReport(scores=scores, details=details, protocol=reports[0].protocol,
                          distance=reports[0].distance, split=split, timings=timings)


def run(args):
    """Read, score and print; returns the exit status."""
    if args.phototour is not None:
        from ._evaluate_phototour import run_phototour

        return run_phototour(args)
    root = existing_dir(args.descr_dir, "descriptor folder")
    tasks_dir = None
    if args.tasks_dir is not None:
        tasks_dir = existing_dir(args.tasks_dir, "--tasks folder")
    elif args.split is not None:
        raise CLIError("--split selects official task files: give their folder with "
                       "--tasks DIR")
    split = (args.split or "a") if tasks_dir is not None else None
    tasks = tuple(t for t in TASKS if t in (args.task or TASKS))
    sequences = split_test_sequences(tasks_dir, split) if tasks_dir is not None else None
    sources = task_sources(tasks_dir, split, tasks)
    for task, src in sources.items():
        if tasks_dir is not None and src == "generated":
            note(f"note: {task} task files for split {split!r} not in {tasks_dir}; "
                 f"generating {task} tasks (random_state={args.random_state})")
    if all(src == "generated" for src in sources.values()):
        split = None  # nothing of the split is used: the report must not name one
    X, target = read_descriptor_dir(root, sequences, args.delimiter, args.n_jobs)
    check_distance_csv(root, X, target, args.distance)
    n_seq = len(np.unique(target.sequence))
    header = (f"descriptors: {root}  ({n_seq} sequences, {len(X)} patches, "
              f"{X.shape[1]} dims, distance {args.distance})\n"
              + tasks_line(sources, split, args.random_state))
    note(f"scoring {', '.join(tasks)} ...")
    report = evaluate(X, target, tasks=tasks, sources=sources, tasks_dir=tasks_dir,
                      split=split, distance=args.distance, random_state=args.random_state)
    if args.json:
        out = report.as_dict()
        out.update(descriptor_dir=str(root), n_sequences=n_seq, n_patches=int(len(X)),
                   n_dims=int(X.shape[1]), tasks_dir=None if tasks_dir is None else str(tasks_dir),
                   task_source={t: ("generated" if s == "generated" else "files")
                                for t, s in sources.items()})
        print(json.dumps(json_safe(out), indent=2, allow_nan=False))
    else:
        print(header)
        print(report)
    return 0
