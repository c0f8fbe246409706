"""The test Swift (buildmaster/testing/swift.py) is a working Swift."""

import urllib.request


def _call(method, url, token, data=None):
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"X-Auth-Token": token})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status, answer.read()


def test_the_test_swift_hands_out_a_token_and_keeps_an_object(swift):
    storage_url, token = swift.storage()
    assert _call("PUT", f"{storage_url}/fixture", token)[0] in (201, 202)
    assert _call("PUT", f"{storage_url}/fixture/greeting", token, b"hello")[0] == 201
    assert _call("GET", f"{storage_url}/fixture/greeting", token) == (200, b"hello")


def test_its_servers_run_on_loopback_from_the_test_directory(swift):
    assert swift.auth_url.startswith("http://127.0.0.1:")
    assert all(process.poll() is None for process in swift.processes)
    assert sorted(name for name in swift.ports) == [
        "account", "container", "memcached", "object", "proxy"]
