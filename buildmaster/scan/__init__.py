"""The scanner: every builder watched, what its slave says acted on, finished
builds collected."""
