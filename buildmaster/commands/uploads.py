"""``buildmaster upload DSC...``: register source packages for building.

Each .dsc is registered in a transaction of its own, with its builds
created at once (queuebuilder.queue_publication) and, on PostgreSQL, a
NOTIFY waking the daemons' dispatchers when it commits (wakeups.py): a
job starts within moments of its upload, not at the queue builder's next
run.  The first refused .dsc stops the command; those before it stay.
"""

import sqlalchemy as sa

from buildmaster.operators import output
from buildmaster.queue import queuebuilder
from buildmaster.uploads import sources
from buildmaster.runtime import wakeups
from buildmaster.commands.common import arg, farm_session, operator_command
from buildmaster.model import Build, BuildQueue, DistroArchSeries

FILE_COLUMNS = [("FILE", "name"), ("TYPE", "type"), ("SIZE", "size"),
                ("SHA256", "sha256"), ("LIBRARIAN", "alias")]


@operator_command(
    "upload", "register a source package (.dsc and its files) for building",
    arg("dscs", metavar="DSC", nargs="+",
        help="the .dsc (signed by a key in [upload] keyring when one is set); the "
             "files it lists lie beside it; several are uploaded one after another"),
    arg("--distribution", required=True, help="e.g. ubuntu"),
    arg("--series", required=True, help="e.g. hoary"),
    arg("--pocket", default="RELEASE", help="RELEASE (default), UPDATES, SECURITY, ..."),
    arg("--archive", default="primary", help="primary (default), partner or "
        "'~owner/name' (quoted: the shell expands ~)"),
    arg("--component", default="main", help="main (default), universe, ..."),
    arg("--changes", help="the upload's .changes, for section and urgency"))
def upload(context, args):
    for dsc in args.dscs:
        upload_one(context, args, dsc)


def upload_one(context, args, dsc):
    with farm_session(context) as session:
        publication = sources.register_source(
            session, context.librarian, dsc, args.distribution, args.series,
            pocket=args.pocket, archive_ref=args.archive, component=args.component,
            changes_path=args.changes, keyring=context.config.upload.keyring or None)
        release = publication.sourcepackagerelease
        print(f"Registered {release.name} {release.version} in "
              f"{publication.distroseries.distribution.name} "
              f"{publication.distroseries.name} {publication.pocket.name}, "
              f"archive {publication.archive.reference}, component "
              f"{publication.component.name}: source release {release.id}, "
              f"publication {publication.id} {publication.status.name}.")
        if release.signing_key_fingerprint:
            print(f"Signed by {release.signing_key_uid}, key "
                  f"{release.signing_key_fingerprint}; creator {release.creator.name}.")
        files = [{"name": each.libraryfile.filename, "type": each.filetype.name,
                  "size": each.libraryfile.content.filesize,
                  "sha256": each.libraryfile.content.sha256,
                  "alias": each.libraryfile.id} for each in release.files]
        print("\n".join(output.table_lines(files, FILE_COLUMNS)))
        queued = queuebuilder.queue_publication(session, publication)
        for build_id, arch, job, score in session.execute(
                sa.select(Build.id, DistroArchSeries.architecturetag, BuildQueue.id,
                          BuildQueue.lastscore)
                .join(DistroArchSeries, DistroArchSeries.id == Build.distroarchseries_id)
                .join(BuildQueue, BuildQueue.build_id == Build.id)
                .where(Build.id.in_(queued)).order_by(Build.id)):
            print(f"Build {build_id} ({arch}) queued as job {job}, score {score}.")
        if queued:
            wakeups.notify(session, wakeups.DISPATCH)
