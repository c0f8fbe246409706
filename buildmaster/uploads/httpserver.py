"""The upload server's HTTP side: ``PUT /upload/<target>/<file>``, as dput's
``method = http`` sends it.

``<target>`` names the archive ('acme' for a distribution's primary
archive, '~alice/tools/acme' for a PPA).  The body goes straight into a
part file of the upload queue (inbox.py) while it arrives; past
``[upload] max_file_size``, or past what ``max_upload_size`` leaves the
target's incoming files, the request is answered 413 at once and the
connection closed, so nothing over the limit is read, held or written
(buildmaster.runtime.bodylimit, as on the master's other HTTP ports).
A whole file is renamed into place and wakes the ``process_uploads`` job,
which takes the upload once its .changes and every file it lists are in.  dput's optional basic credentials are
accepted and ignored: the .changes' signature alone says who uploads.
"""

import logging
import os
import urllib.parse

from twisted.web import resource

from buildmaster.runtime.bodylimit import BoundedRequest, BoundedSite
from buildmaster.runtime.wakeups import UPLOADS
from buildmaster.uploads import inbox, intake

LOG = logging.getLogger("buildmaster.uploads")
PREFIX = "/upload/"


def split_path(path):
    """(target, file name) of a request path, or None when it names none."""
    path = urllib.parse.unquote(path.split("?", 1)[0])
    if not path.startswith(PREFIX):
        return None
    target, _, name = path[len(PREFIX):].rstrip().rpartition("/")
    if not target or not name:
        return None
    return target, name


class UploadRequest(BoundedRequest):
    """A request whose body streams into the upload queue, within the limits
    (refused while it arrives: buildmaster.runtime.bodylimit)."""

    part = None

    def body_limit(self):
        site = self.channel.site
        limit = site.settings.max_file_size
        parsed = split_path(getattr(self.channel, "_path", b"").decode("latin-1"))
        if parsed is not None:
            # The target is known before the body: its upload's room counts too.
            room = site.settings.max_upload_size - site.queue.size_of(parsed[0])
            limit = min(limit, room)
        return limit

    def open_body(self, length):
        site = self.channel.site
        self.part = os.path.join(site.queue.root, "incoming",
                                 f"{inbox.PART_PREFIX}{id(self)}-{os.getpid()}")
        self.content = open(self.part, "w+b")

    def drop_body(self, why):
        self._discard()

    def _discard(self):
        content = self.content
        if content is not None and not content.closed:
            content.close()
        if self.part and os.path.exists(self.part):
            os.unlink(self.part)

    def connectionLost(self, reason):
        if not self.finished:
            self._discard()
        super().connectionLost(reason)


class UploadResource(resource.Resource):
    isLeaf = True

    def render_PUT(self, request):
        parsed = split_path(request.path.decode("latin-1"))
        site = request.channel.site
        if parsed is None:
            return self._answer(request, 404, "PUT /upload/<target>/<file>")
        target, name = parsed
        request.content.close()
        try:
            destination = site.queue.part_path(target, name)
        except inbox.InboxError as error:
            request._discard()
            return self._answer(request, 400, str(error))
        os.replace(request.part, destination)
        site.queue.complete(target, destination, name)
        LOG.info(f"upload to {target}: {name} received ({request.received} bytes)")
        # The job sees whether an upload is whole now; wake-ups coalesce.
        site.wake(UPLOADS)
        return self._answer(request, 201, f"{name} received")

    def render_GET(self, request):
        return self._answer(request, 405, "this server takes uploads: PUT "
                                          "/upload/<target>/<file>")

    def _answer(self, request, code, text):
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return (text + "\n").encode("utf-8")


class UploadSite(BoundedSite):
    """The HTTP site; ``receiver`` (intake.Receiver) holds the limits, the
    queue and the wake-up."""

    requestFactory = UploadRequest

    def __init__(self, receiver):
        super().__init__(UploadResource(), receiver.settings.max_file_size)
        self.settings, self.queue, self.wake = receiver.settings, receiver.queue, receiver.wake
        self.noisy = False


def make_site(context):
    return UploadSite(intake.receiver(context))
