"""``make run``: a whole build farm on this machine (``python -m buildmaster.demo``)."""
