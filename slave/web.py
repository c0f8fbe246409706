"""The HTTP side of the slave: /rpc and /filecache/<sha1 or buildlog>."""

from twisted.web import resource, server, static

from slave.filecache import is_sha1
from slave.rpc import SlaveRPC


class FileCacheResource(resource.Resource):
    """Serves cached files by sha1 and the build log, nothing else.

    Only exact sha1 names map to paths, so no request can reach a file
    outside the cache directory.
    """

    def __init__(self, builder):
        super().__init__()
        self.builder = builder

    def getChild(self, path, request):
        name = path.decode("ascii", "replace")
        if name == "buildlog" and self.builder.buildlog.exists():
            return _file(self.builder.buildlog.path, "text/plain")
        if is_sha1(name) and self.builder.cache.has(name):
            return _file(self.builder.cache.path(name),
                         "application/octet-stream")
        return resource.NoResource("No such file in the cache.")


def _file(path, content_type):
    return static.File(path, defaultType=content_type)


def make_site(builder, managers, reactor):
    root = resource.Resource()
    root.putChild(b"rpc", SlaveRPC(builder, managers, reactor))
    root.putChild(b"filecache", FileCacheResource(builder))
    return server.Site(root)
