"""What the benchmarks that run the real daemon on PostgreSQL share: their
``--db-url``, ``--json`` and ``--keep`` options, and a working directory
kept for a look afterwards or thrown away."""

import contextlib
import sys
import tempfile

DEFAULT_DB_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_daemon_arguments(parser):
    parser.add_argument("--db-url", default=DEFAULT_DB_URL,
                        help="a PostgreSQL server (any database on it)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="keep the farm's files and the master's log")


def parse_daemon_arguments(parser, argv):
    """``parser``'s arguments, refusing a --db-url that is not PostgreSQL's."""
    args = parser.parse_args(argv)
    if not args.db_url.startswith("postgresql"):
        parser.error("--db-url: the benchmark needs PostgreSQL")
    return args


@contextlib.contextmanager
def workdir(args, prefix):
    """A directory for the run: kept (and named on stderr) with --keep."""
    if args.keep:
        kept = tempfile.mkdtemp(prefix=prefix)
        print(f"keeping the farm's files and the master's log in {kept}", file=sys.stderr)
        yield kept
    else:
        with tempfile.TemporaryDirectory(prefix=prefix) as thrown:
            yield thrown
