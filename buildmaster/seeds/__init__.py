"""The seeds' API and world: the 2005 BuilddMaster, the sample data the
doctests live in."""
