"""The farm file: the operator's whole farm in one TOML file kept in git.

Processors, distributions with their series and architectures, people
with their keys, archives with their dependencies and uploaders, and
builders.  ``buildmaster apply`` reads the file (reader.py: every problem
found at once, one line each), compares it with the database (state.py
reads the database in the same form; plan.py says what differs) and
makes the changes in one transaction (changes.py).  ``buildmaster
export`` writes the database back out in the same form (writer.py), so
``export | apply -`` changes nothing.
"""
