"""What the master, the slave and the sequencer share.

``states``: the state strings of the launchpad-buildd wire protocol,
which the slave reports and the master's client, scanner and dispatcher
read.  ``processes``: the process-group helpers the slave's build
commands and the sequencer's jobs are both started and stopped with.

Nothing here imports buildmaster, slave or sequencer: each of them
depends on this package, never the other way round.
"""
