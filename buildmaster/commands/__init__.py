"""The operator's subcommands, one module per subject.

Each module registers its commands in ``buildmaster.commands.registry``,
whose table ``buildmaster.cli`` builds its parser from; importing this
package imports them all.
"""

from buildmaster.commands import database  # noqa: F401
from buildmaster.commands import archives  # noqa: F401
from buildmaster.commands import bugs  # noqa: F401
from buildmaster.commands import builders  # noqa: F401
from buildmaster.commands import builds  # noqa: F401
from buildmaster.commands import chroots  # noqa: F401
from buildmaster.commands import distributions  # noqa: F401
from buildmaster.commands import farmfile  # noqa: F401
from buildmaster.commands import farmjobs  # noqa: F401
from buildmaster.commands import operating  # noqa: F401
from buildmaster.commands import queue  # noqa: F401
from buildmaster.commands import report  # noqa: F401
from buildmaster.commands import tokens  # noqa: F401
from buildmaster.commands import uploads  # noqa: F401
