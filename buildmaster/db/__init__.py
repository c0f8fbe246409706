"""The database underneath: engines and sessions, work in threads off the
reactor, and outages told once."""
