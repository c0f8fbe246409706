"""Build failure mail: composed from the build, spooled on disk, sent over SMTP."""
