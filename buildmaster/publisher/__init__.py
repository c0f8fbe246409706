"""The publisher: the farm's archives as real apt repositories.

One module per job:

``run``
    one publisher run: PENDING publications become PUBLISHED, suites are
    written whole and switched atomically, and the dependency waits they
    satisfy are retried;
``selection``
    which suites changed, and what a suite holds (the queries);
``pool``
    the librarian's files into ``pool/``;
``domination``
    which older versions a new publication supersedes;
``indexes``
    Packages and Sources, written by apt-ftparchive;
``release``
    Release, the staging directory and the switch to it;
``signing``
    the farm's key: Release.gpg, InRelease, and the build argument
    ``trusted_keys``;
``depwait``
    MANUALDEPWAIT builds retried when publishing satisfies them;
``serving``
    the trees over HTTP at the URLs the dispatcher writes into
    sources.list, private archives behind the buildd credentials;
``layout``
    where each archive's tree lives and which URL serves it.
"""
