"""Install buildmaster: the master daemon of a Debian package build farm."""

from setuptools import find_packages, setup

# Directories of data, not modules (no __init__.py): the mail templates,
# the web's templates and static files.  They are packages of their own, so
# that setuptools installs their files without warning that Python could
# import them as packages it was not told about.
DATA_PACKAGES = ["buildmaster.templates", "buildmaster.web.static", "buildmaster.web.templates"]

setup(
    name="buildmaster",
    version="0.1.0",
    description="Master daemon of a Debian package build farm",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    python_requires=">=3.11",
    packages=find_packages(include=["buildmaster*", "slave*", "sequencer*", "common*", "migrations*"])
    + DATA_PACKAGES,
    # Every file that is not a module, each declared in its own directory's
    # package (tests/test_packaging.py checks that none is left out).
    package_data={
        "buildmaster.templates": ["*"],
        "buildmaster.web.static": ["*"],
        "buildmaster.web.templates": ["*"],
        "buildmaster.testing": ["*.asc"],
        "migrations": ["script.py.mako"],
        "slave": ["slave.tac"],
    },
    install_requires=[
        # conch: the SFTP upload server (cryptography, bcrypt).
        "Twisted[conch]>=23.10,<27",
        "SQLAlchemy>=2.0,<2.1",
        "alembic>=1.12,<2",
        "psycopg2-binary>=2.9,<3",
        "pytz>=2023.3",
        "zope.interface>=6,<9",
        "python-debian>=0.1.49",
        "treq>=23.11",
        "Jinja2>=3.1,<4",
        "prometheus-client>=0.17,<1",
        # The librarian's Swift backend ([librarian] backend = swift).
        "python-swiftclient>=4.4,<5",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "pytest-twisted>=1.14,<2",
            # Property-based tests of the scanner and dispatcher against
            # slaves answering garbage (tests/test_slave_garbage.py).
            "hypothesis>=6.100,<7",
            # Real external bug trackers for checkwatches' integration tests
            # (tests/test_bugtrackers_real.py); Trac 1.6 imports
            # pkg_resources, which setuptools 81 drops.
            "roundup>=2.6,<2.7",
            "Trac>=1.6,<1.7",
            "setuptools<81",
            # The dashboard's browser tests drive Debian's chromium (which
            # make test installs with apt) through Playwright; Playwright's
            # own browser downloads are never used.
            "playwright>=1.40,<2",
            # dput-ng (unpacked beside dput, buildmaster/testing/dputng.py)
            # runs on this venv: its sftp uploader needs paramiko, and it
            # checks profiles against its schemas with jsonschema.
            "paramiko>=3,<6",
            "jsonschema>=4,<5",
        ],
    },
    entry_points={
        "console_scripts": [
            "buildmaster = buildmaster.cli:main",
            "buildmaster-slave = slave.cli:main",
        ],
    },
)
