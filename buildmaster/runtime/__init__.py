"""The running master's plumbing: wake-ups between jobs and masters, what the
periodic work last did, and the HTTP servers it listens on."""
