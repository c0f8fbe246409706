"""The list of uploads: what ``buildmaster uploads``, ``/api/1.0/uploads``
and the ``/uploads`` page show, from the Upload rows (model/upload.py)
that the upload server's processing (intake.py) and the operator's
``buildmaster upload`` (commands/uploads.py) record.

A target is named as the upload server names it: a distribution's
primary archive by the distribution ('acme'), any other archive by its
reference and the distribution ('~alice/tools/acme', 'partner/acme').

An upload is private when its archive is: the archive it went into, or,
for one rejected or failed before an archive was found, the archive its
target names.  A viewer without the ``private`` right sees only the
uploads known to be public, so an upload whose target names no archive
at all is hidden from them too (in doubt, hidden).  The filter is SQL,
so totals and pages never count what is hidden.
"""

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from buildmaster.model import Archive, ArchivePurpose, Distribution, Person, Upload
from buildmaster.model.upload import ACCEPTED, FAILED, REJECTED
from buildmaster.operators.output import timestamp

STATES = (ACCEPTED, REJECTED, FAILED)

LOADS = (
    selectinload(Upload.signer),
    selectinload(Upload.archive).options(selectinload(Archive.owner),
                                         selectinload(Archive.distribution)),
)


def upload_target(archive):
    """The upload server's name of ``archive``: 'acme', '~alice/tools/acme'."""
    if archive.purpose == ArchivePurpose.PRIMARY:
        return archive.distribution.name
    return f"{archive.reference}/{archive.distribution.name}"


def _target_column():
    """The SQL of ``upload_target`` over Archive, Distribution and Person
    (outer-joined as the archive's owner)."""
    reference = sa.case((Archive.purpose == ArchivePurpose.PPA,
                         sa.literal("~") + Person.name + sa.literal("/") + Archive.name),
                        else_=Archive.name)
    return sa.case((Archive.purpose == ArchivePurpose.PRIMARY, Distribution.name),
                   else_=reference + sa.literal("/") + Distribution.name)


def _targets(*conditions):
    """SELECT (target, private) of every archive meeting ``conditions``."""
    target = _target_column()
    return (sa.select(target.label("target"), Archive.private)
            .select_from(Archive)
            .join(Distribution, Distribution.id == Archive.distribution_id)
            .outerjoin(Person, Person.id == Archive.owner_id)
            .where(Archive.purpose != ArchivePurpose.COPY, *conditions))


def public_condition():
    """The SQL condition of an upload known to be public."""
    public_targets = _targets(sa.not_(Archive.private)).subquery()
    return sa.or_(
        Upload.archive_id.in_(sa.select(Archive.id).where(sa.not_(Archive.private))),
        sa.and_(Upload.archive_id.is_(None),
                Upload.target.in_(sa.select(public_targets.c.target))))


def target_privacy(session, targets):
    """{target: private} of the ``targets`` that name an archive."""
    targets = set(targets)
    if not targets:
        return {}
    named = _targets().subquery()
    return dict(session.execute(sa.select(named.c.target, named.c.private)
                                .where(named.c.target.in_(targets))).all())


def upload_object(upload, private):
    """An upload as the CLI and the web show it; ``private`` is True,
    False, or None when its target names no archive."""
    received = upload.date_received
    return {
        "id": upload.id,
        "queue_id": upload.queue_id,
        "date_received": timestamp(received),
        "time": received.strftime("%Y-%m-%d %H:%M:%S") if received else None,
        "signer": upload.signer.name if upload.signer is not None else None,
        "fingerprint": upload.fingerprint,
        "changes_name": upload.changes_name,
        "source": upload.source,
        "version": upload.version,
        "target": upload.target,
        "archive": upload.archive.reference if upload.archive is not None else None,
        "private": private,
        "state": upload.state,
        "reasons": list(upload.reasons or []),
        "reasons_text": "; ".join(upload.reasons or []) or None,
        "builds": list(upload.builds or []),
        "builds_text": " ".join(map(str, upload.builds or [])) or None,
    }


def uploads(session, see_private, state=None, limit=None, offset=0):
    """(total, [upload object]) newest first; only those in ``state`` when
    given, only the public ones unless ``see_private``."""
    query = sa.select(Upload)
    if state is not None:
        query = query.where(Upload.state == state)
    if not see_private:
        query = query.where(public_condition())
    total = session.scalar(sa.select(sa.func.count()).select_from(
        query.with_only_columns(Upload.id).subquery()))
    query = query.order_by(Upload.date_received.desc(), Upload.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    rows = session.scalars(query.options(*LOADS)).all()
    privacy = target_privacy(session, [row.target for row in rows if row.archive is None])
    return total, [upload_object(row, row.archive.private if row.archive is not None
                                 else privacy.get(row.target)) for row in rows]
