"""``python -m buildmaster.demo``: the demo farm of buildmaster.demo.farm."""

from buildmaster.demo.farm import main

main()
