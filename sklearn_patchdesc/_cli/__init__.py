"""The command line: ``python -m sklearn_patchdesc <command>`` / ``sklearn-patchdesc``.

One small module per subcommand (``_demo``, ``_make_data``, ``_evaluate``,
``_export``); each exposes ``add_parser(subparsers)`` and ``run(args) -> int``
and imports the heavy libraries (torch, matplotlib) only inside ``run`` so
that ``--help`` is fast.

Expected user errors are printed as one line on stderr and give exit status 1
(2 for argument syntax errors, as argparse does): a :class:`CLIError` (bad
arguments, and what the library says about a file or folder the user gave,
see :func:`._common.user_input`) and the operating system's file errors
(missing, not a folder, not writable, a full or read-only disk). Any other
exception is a bug, in the command or in the library, and shows its full
traceback; ``--traceback`` (or the environment variable ``SKPD_TRACEBACK=1``)
shows it for user errors too.
"""
from __future__ import annotations

import argparse
import errno
import os
import sys

from .._env import getenv
from . import _demo, _evaluate, _export, _make_data
from ._common import CLIError

__all__ = ["build_parser", "main"]

_COMMANDS = (_demo, _make_data, _evaluate, _export)

#: exceptions that mean "bad input", reported without a traceback; a ValueError,
#: TypeError or ImportError raised by library code is not among them (it would hide
#: a bug): the commands turn the library's verdicts on user input into CLIError
_USER_ERRORS = (CLIError, FileNotFoundError, FileExistsError, NotADirectoryError,
                IsADirectoryError, PermissionError)


def build_parser():
    """The argparse parser of every subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="sklearn-patchdesc",
        description="Learned local patch descriptors and denoisers, evaluated with the "
                    "HPatches protocol. Run '<command> --help' for the options of a command. "
                    "Every command writes its results to stdout and its progress, notes and "
                    "errors to stderr.",
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full Python traceback on errors (for bug reports); "
                             "SKPD_TRACEBACK=1 does the same")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module in _COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    status : int
        0 on success, 1 on a user error or failure, 2 on an argument syntax
        error, 130 when interrupted.

    Raises
    ------
    Exception
        Any exception that is not a user error propagates with its traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, syntax errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)
    show_tb = args.traceback or bool(getenv("TRACEBACK"))
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 1
    except _USER_ERRORS as exc:
        if show_tb:
            raise
        msg = str(exc) if isinstance(exc, CLIError) else f"{type(exc).__name__}: {exc}"
        print(f"{parser.prog} {args.command}: error: {msg}", file=sys.stderr)
        return 1
    except OSError as exc:
        if show_tb or exc.errno not in _DISK_ERRNOS:
            raise
        print(f"{parser.prog} {args.command}: error: {disk_message(exc, args)}", file=sys.stderr)
        return 1


#: the operating system's "this disk cannot take it" errors: a condition of the machine,
#: reported in one line like a user error (the library's writers leave nothing
#: half-written under the real name)
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def disk_message(exc, args):
    """One line for a full / read-only disk, naming the file or the output folder."""
    where = exc.filename or getattr(args, "out", None)
    reason = exc.strerror or os.strerror(exc.errno)
    return f"{reason}" + (f" writing {where}" if where else "") + \
        "; free some space or choose another folder"
