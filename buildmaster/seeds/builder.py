"""The seeds' Builder API, attached to the model when this module is imported.

The 2005 doctests drive a builder row itself: ``builder.slave``,
``builder.findBuildCandidate()``, ``builder.dispatchBuildCandidate(...)``,
``builder.is_available``, ``builder.slaveStatus()`` and
``builder.setSlaveForTesting(mock)``.  The running farm never does: it
asks the slave registry (buildmaster.slaves.registry), the queue
(buildmaster.queue.candidates) and the dispatcher
(buildmaster.dispatch.dispatcher) itself, so the model depends on none
of them.  This facade is the one place where the seeds' names meet those
parts, as Launchpad moved the same methods off its Builder row into
``lp/buildmaster/interactor.py``.  The doctests and the tests that tell
the seeds' story import it.
"""

from buildmaster.dispatch import dispatcher
from buildmaster.model.builder import Builder, BuilderBehaviour
from buildmaster.queue.candidates import find_build_candidate
from buildmaster.slaves import registry


def slave(builder):
    """The SlaveClient for this builder (a mock's, under test)."""
    return registry.slave_of(builder)


def setSlaveForTesting(builder, proxy):
    """Make this builder talk to ``proxy``, a mock slave."""
    registry.override(builder, proxy)


def slaveStatus(builder):
    """A Deferred firing with the slave's normalised status dict."""
    return builder.slave.status()


def findBuildCandidate(builder):
    """The best pending BuildQueue entry this builder can take, or None."""
    return find_build_candidate(builder)


def dispatchBuildCandidate(builder, candidate, config=None):
    """Start ``candidate`` on this builder's slave; a Deferred."""
    return dispatcher.dispatch_candidate(builder, candidate, config)


def is_available(builder):
    """Ok, active and without a job."""
    return dispatcher.is_available(builder)


Builder.slave = property(slave)
Builder.setSlaveForTesting = setSlaveForTesting
Builder.findBuildCandidate = findBuildCandidate
Builder.dispatchBuildCandidate = dispatchBuildCandidate
Builder.is_available = property(is_available)
BuilderBehaviour.slaveStatus = slaveStatus
