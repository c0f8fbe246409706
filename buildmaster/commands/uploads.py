"""``buildmaster upload DSC...``: register source packages for building;
``buildmaster uploads``: every upload, the developers' and the operator's.

Each .dsc is registered in a transaction of its own, with its builds
created at once (queuebuilder.queue_publication) and, on PostgreSQL, a
NOTIFY waking the daemons' dispatchers when it commits (wakeups.py): a
job starts within moments of its upload, not at the queue builder's next
run.  The first refused .dsc stops the command; those before it stay.
Each registered source is also an ACCEPTED Upload row (no queue id),
committed with it, so ``buildmaster uploads``, ``/api/1.0/uploads`` and
the ``/uploads`` page list it beside the uploads developers dput
(buildmaster/uploads/intake.py).
"""

import os

import sqlalchemy as sa

from buildmaster.operators import output
from buildmaster.queue import queuebuilder
from buildmaster.uploads import listing, sources
from buildmaster.runtime import wakeups
from buildmaster.commands.builds import positive
from buildmaster.commands.common import JSON, arg, farm_session, operator_command
from buildmaster.commands.registry import CommandError
from buildmaster.model import Build, BuildQueue, DistroArchSeries, OpenPGPKey, Upload
from buildmaster.model.upload import ACCEPTED

FILE_COLUMNS = [("FILE", "name"), ("TYPE", "type"), ("SIZE", "size"),
                ("SHA256", "sha256"), ("LIBRARIAN", "alias")]
UPLOAD_COLUMNS = [("TIME", "time"), ("SIGNER", "signer"), ("SOURCE", "source"),
                  ("VERSION", "version"), ("TARGET", "target"), ("STATE", "state"),
                  ("REASONS", "reasons_text"), ("BUILDS", "builds_text")]


@operator_command(
    "upload",
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
    with farm_session(context, refusals=(sources.SourceUploadError,)) as session:
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
        record_upload(session, publication, queued, args.changes)
        if queued:
            wakeups.notify(session, wakeups.DISPATCH)


def record_upload(session, publication, builds, changes_path=None):
    """The operator's upload as an ACCEPTED Upload row, beside the
    developers' (no queue id: it never was in the upload queue).  Its
    signer is the release's: the farm's person holding the key that
    signed the .dsc, else the release's creator when it was signed."""
    release = publication.sourcepackagerelease
    signer = None
    if release.signing_key_fingerprint:
        key = session.scalars(sa.select(OpenPGPKey).filter_by(
            fingerprint=release.signing_key_fingerprint)).first()
        signer = key.owner if key is not None else release.creator
    session.add(Upload(
        target=listing.upload_target(publication.archive),
        changes_name=os.path.basename(changes_path) if changes_path else None,
        signer=signer, fingerprint=release.signing_key_fingerprint,
        source=release.name, version=release.version, archive=publication.archive,
        state=ACCEPTED, reasons=[], builds=sorted(builds)))
    session.flush()


def upload_state(name):
    if name.upper() not in listing.STATES:
        raise CommandError(f"no upload state named {name!r} "
                           f"(known: {', '.join(listing.STATES)})")
    return name.upper()


@operator_command(
    "uploads",
    arg("--state", help="only uploads in this state: ACCEPTED, REJECTED or FAILED"),
    arg("--limit", type=positive, default=50,
        help="at most this many (default 50)"),
    JSON)
def uploads(context, args):
    state = upload_state(args.state) if args.state else None
    with farm_session(context) as session:
        _, objects = listing.uploads(session, see_private=True, state=state,
                                     limit=args.limit)
    output.emit(objects, UPLOAD_COLUMNS, args.json, empty="No uploads.")
