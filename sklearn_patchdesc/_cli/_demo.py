"""``demo``: not written yet (next commit)."""
from ._common import CLIError

HELP = "train and score the baseline pipeline on built-in data (not yet available)"


def add_parser(sub):
    """Register the ``demo`` subcommand."""
    p = sub.add_parser("demo", help=HELP, description=HELP)
    p.set_defaults(run=run)
    return p


def run(args):
    """Not implemented yet."""
    raise CLIError("the demo is not implemented yet")
