"""make run's configuration: its ports are kept from run to run (log URLs
already mailed keep working), a taken one is replaced and said so."""

import socket

from buildmaster import config as configmodule
from buildmaster.demo import farm


def ports(path):
    loaded = configmodule.load(str(path), check_dirs=False)
    return (loaded.librarian.public_port, loaded.librarian.restricted_port,
            loaded.archives.http_port, loaded.mail.smtp_port, loaded.web.port)


def test_the_ports_of_the_last_run_are_kept(tmp_path):
    first = ports(farm.write_config(str(tmp_path)))
    assert ports(farm.write_config(str(tmp_path))) == first
    loaded = configmodule.load(str(tmp_path / "buildmaster.conf"), check_dirs=False)
    assert loaded.librarian.public_url == f"http://127.0.0.1:{first[0]}"


def test_a_port_taken_since_is_replaced_and_said(tmp_path, capsys):
    first = ports(farm.write_config(str(tmp_path)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first[0]))
        taken.listen()
        second = ports(farm.write_config(str(tmp_path)))
    assert second[0] != first[0] and second[1:] == first[1:]
    assert f"[librarian] public_port {first[0]} is taken now: using {second[0]}" in \
        capsys.readouterr().out
