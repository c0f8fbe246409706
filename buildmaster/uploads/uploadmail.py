"""The mail an uploader gets: "Accepted" with what the upload made, or every
reason it was not.

It goes to the signer alone, whatever the archive: a private archive's
upload is named to nobody else.
"""

import email.message
import email.utils
import os

import sqlalchemy as sa

from buildmaster.model import Build
from buildmaster.model.upload import ACCEPTED


def compose(config, upload, directory, session):
    """(sender, about, [(recipient, raw message)]) for ``upload``."""
    signer = upload.signer
    what = f"{upload.source or upload.changes_name} {upload.version or ''}".strip()
    if upload.state == ACCEPTED:
        subject = f"Accepted: {what} into {upload.target}"
        body = _accepted(upload, directory, session)
    else:
        subject = f"Rejected: {what} for {upload.target}"
        body = _rejected(upload)
    message = email.message.EmailMessage()
    message["From"] = config.mail.from_address
    message["To"] = email.utils.formataddr((signer.displayname, signer.preferred_email))
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = email.utils.make_msgid(
        "upload", domain=config.mail.from_address.rpartition("@")[2] or None)
    message["X-Buildmaster-Upload-State"] = upload.state
    message.set_content(body)
    return (config.mail.from_address, f"upload {upload.queue_id} {upload.state}",
            [(signer.preferred_email, message.as_string())])


def _accepted(upload, directory, session):
    files = sorted(name for name in os.listdir(directory) if name != "TARGET")
    builds = session.scalars(sa.select(Build).where(Build.id.in_(upload.builds))
                             .order_by(Build.id)).all()
    lines = [f"{upload.source} {upload.version} was accepted into "
             f"{upload.archive.reference} in {upload.archive.distribution.name}.", "",
             "Files:"] + [f"  {name}" for name in files] + ["", "Builds:"]
    lines += [f"  build {build.id}: {build.title}" for build in builds] or \
        ["  none: no architecture of the series builds it"]
    return "\n".join(lines) + "\n"


def _rejected(upload):
    lines = [f"Your upload {upload.changes_name or ''} for {upload.target} was rejected:", ""]
    lines += [f"  - {reason}" for reason in upload.reasons]
    lines += ["", "Nothing of it was kept. Fix what is listed and upload again."]
    return "\n".join(lines) + "\n"
