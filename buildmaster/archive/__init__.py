"""What an archive offers a build: the pockets that take builds, the
sources.list a build gets, and the chroots it builds in."""
