"""``buildmaster upgrade`` (alias ``initdb``) and ``buildmaster sampledata``:
the database's schema and the doctests' sample world."""

from buildmaster import schema
from buildmaster.commands.common import require_schema
from buildmaster.commands.registry import command


@command("upgrade")
def upgrade(context, args):
    before = schema.current_revision(context.engine)
    schema.upgrade(context.engine)
    after = schema.current_revision(context.engine)
    if before == after:
        print(f"Database is up to date at revision {after}.")
    else:
        print(f"Database upgraded from {before or 'empty'} to revision {after}.")


@command("sampledata")
def load_sampledata(context, args):
    # Here, not at the top: upgrade, in the same module, needs none of it.
    from buildmaster.seeds import sampledata
    require_schema(context)
    with context.sessions() as session:
        try:
            sampledata.load(session, context.librarian)
        except sampledata.AlreadyLoaded:
            print("Sample data is already there; nothing to do.")
            return
        session.commit()
    print("Sample data loaded.")
