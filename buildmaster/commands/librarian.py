"""``buildmaster librarian migrate --to swift`` and ``librarian gc``
(buildmaster/librarian/maintenance.py does the work)."""

from buildmaster.commands.common import Group, arg, require_schema
from buildmaster.commands.registry import CommandError
from buildmaster.librarian import maintenance
from buildmaster.model import utcnow

librarian = Group("librarian")


@librarian.subcommand(
    "migrate", "copy every file of the disk store into Swift, each checked against its "
               "row; resumable (what Swift holds is skipped); prints one line a file",
    arg("--to", required=True, choices=["swift"], help="where to: swift"))
def migrate(context, args):
    from buildmaster.librarian.storage import LibrarianStorage
    from buildmaster.librarian.swift import SwiftStorage
    settings = context.config.librarian
    if not settings.swift_auth_url:
        raise CommandError("[librarian] swift_auth_url, swift_user and swift_key must say "
                           "which Swift to migrate to")
    require_schema(context)
    report = maintenance.migrate(
        context.sessions, LibrarianStorage(settings.storage), SwiftStorage(settings),
        progress=lambda line: print(line, flush=True))
    print(f"{report.copied} copied, {report.present} already in Swift, "
          f"{len(report.missing)} missing from disk, {len(report.failed)} refused")
    if report.missing or report.failed:
        raise CommandError("some files were not copied (listed above): fix them and run "
                           "'buildmaster librarian migrate --to swift' again")


@librarian.subcommand(
    "gc", "remove the stored files no row names, once older than the grace period",
    arg("--dry-run", action="store_true", help="list them, remove nothing"),
    arg("--grace", default="7", metavar="DAYS",
        help="leave files younger than this many days (default 7)"))
def gc(context, args):
    try:
        grace = maintenance.parse_grace(args.grace)
    except ValueError:
        raise CommandError(f"--grace: not a number of days: {args.grace!r}") from None
    require_schema(context)
    garbage = maintenance.collect_garbage(context.sessions, context.librarian, grace,
                                          utcnow(), dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path in garbage.files:
        print(f"{verb} file {path}")
    for name in garbage.objects:
        print(f"{verb} Swift object {name}")
    for name in garbage.segments:
        print(f"{verb} Swift segment {name}")
    print(f"{verb} {len(garbage.files)} files, {len(garbage.objects)} Swift objects and "
          f"{len(garbage.segments)} Swift segments")
