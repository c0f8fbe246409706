"""Helpers of the tests on the real test Swift (buildmaster/testing/swift.py)."""

import hashlib
import urllib.error
import urllib.request

MIB = 1024 * 1024


def swift_call(swift, method, path, data=None):
    """(status, body) of a request straight to the test Swift's account."""
    storage_url, token = swift.storage()
    request = urllib.request.Request(f"{storage_url}/{path}", data=data, method=method,
                                     headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def some_bytes(size, seed=b"buildmaster"):
    """``size`` bytes that do not repeat in any one segment."""
    blocks, block = [], seed
    while sum(map(len, blocks)) < size:
        block = hashlib.sha256(block).digest()
        blocks.append(block * 64)
    return b"".join(blocks)[:size]
