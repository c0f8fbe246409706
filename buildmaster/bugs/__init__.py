"""Upstream bug trackers: the watches kept current, and builds that wait on
upstream bugs."""
