"""``buildmaster upload DSC``: register a source package for building."""

from buildmaster import output, sourceupload
from buildmaster.commands.common import arg, farm_session, operator_command

FILE_COLUMNS = [("FILE", "name"), ("TYPE", "type"), ("SIZE", "size"),
                ("SHA256", "sha256"), ("LIBRARIAN", "alias")]


@operator_command(
    "upload", "register a source package (.dsc and its files) for building",
    arg("dsc", metavar="DSC", help="the .dsc (signed by a key in [upload] keyring "
                                   "when one is set); the files it lists lie beside it"),
    arg("--distribution", required=True, help="e.g. ubuntu"),
    arg("--series", required=True, help="e.g. hoary"),
    arg("--pocket", default="RELEASE", help="RELEASE (default), UPDATES, SECURITY, ..."),
    arg("--archive", default="primary", help="primary (default), partner or ~owner/name"),
    arg("--component", default="main", help="main (default), universe, ..."),
    arg("--changes", help="the upload's .changes, for section and urgency"))
def upload(context, args):
    with farm_session(context) as session:
        publication = sourceupload.register_source(
            session, context.librarian, args.dsc, args.distribution, args.series,
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
