"""What a slave's refusal of a job says, and to whom.

The reason, naming the build and quoting what its slave said, goes to
the master's log and to the build's own log.  The notes go into the
builder's ``failnotes``, which every page and the API show to anyone,
without a token: for a private archive's build they name neither the
build nor what its slave said (which may quote the URLs of the build's
files), only the kind of failure, so a private name is never stored in
that public field.
"""

from buildmaster.errortext import failure_text
from buildmaster.slaves.errors import SlaveConnectionError, SlaveTimeout

# The notes' words for a private build's refusal, by the kind of failure.
PRIVATE_REFUSALS = ((SlaveTimeout, "its slave did not answer in time"),
                    (SlaveConnectionError, "its slave could not be reached"))
PRIVATE_REFUSAL = "its slave refused it"


def refusal_texts(build, failure):
    """(reason, notes) of the slave's refusal of ``build``'s job, a
    Failure: see the module docstring."""
    reason = f"Dispatch of {build.label} failed: {failure_text(failure)}"
    if not build.archive.private:
        return reason, reason
    kind = next((text for error, text in PRIVATE_REFUSALS if failure.check(error)),
                PRIVATE_REFUSAL)
    return reason, (f"Dispatch of a private build failed: {kind} (the master's log "
                    "says more)")
