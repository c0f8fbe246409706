"""Talking to build slaves: the XML-RPC client, one per builder, when to poll
which, call-backs, failure streaks, and the build logs they stream."""
