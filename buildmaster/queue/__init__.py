"""The build queue: the queue builder that fills it, the scores that order it,
and the candidates a builder may take from it."""
