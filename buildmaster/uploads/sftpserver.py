"""The upload server's SFTP side (Twisted Conch), as Launchpad's SFTP upload
server: for dput's ``method = scp`` (bookworm's scp speaks SFTP) and
dput-ng's ``method = sftp``.

A person logs in with their farm-file name and one of their SSH public
keys (``ssh_keys``), looked up in a database thread.  What they see is a
tree of upload targets, not a filesystem: ``/<target>/`` or
``/upload/<target>/`` for a target as the HTTP side names it ('acme',
'~alice/tools/acme'); they may only write plain files there.  Each file
goes into a part file of the upload queue (inbox.py), with the same
limits as HTTP, checked on every write; closed, it is renamed into place
and wakes ``process_uploads``.  Login says who sent the files, never who
uploads: that is the .changes' signature.
"""

import logging
import os
import stat
import struct

from cryptography.hazmat.primitives.asymmetric import ed25519
from twisted.conch import avatar, error as conch_error
from twisted.conch.interfaces import ISFTPFile, ISFTPServer
from twisted.conch.ssh import factory, filetransfer, keys, session
from twisted.cred import checkers, credentials, error, portal
from twisted.python import components
from zope.interface import implementer

from buildmaster.runtime.wakeups import UPLOADS
from buildmaster.uploads import inbox, intake

LOG = logging.getLogger("buildmaster.uploads")
HOST_KEY = "upload-ssh-host-key"


def host_key(root):
    """This master's SSH host key, made on first use and kept under ``root``."""
    path = os.path.join(root, HOST_KEY)
    if not os.path.exists(path):
        os.makedirs(root, exist_ok=True)
        made = keys.Key(ed25519.Ed25519PrivateKey.generate())
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(made.toString("OPENSSH"))
        os.replace(path + ".new", path)
    with open(path, "rb") as handle:
        return keys.Key.fromString(handle.read())


def _key_lines(session, name):
    from buildmaster.model import Person, SSHKey
    import sqlalchemy as sa
    return session.scalars(sa.select(SSHKey.line).join(Person).where(Person.name == name)).all()


@implementer(checkers.ICredentialsChecker)
class PersonKeys:
    """People authenticated by the SSH keys the farm file gives them."""

    credentialInterfaces = (credentials.ISSHPrivateKey,)

    def __init__(self, db):
        self.db = db

    def requestAvatarId(self, given):
        name = given.username.decode("utf-8", "replace")
        d = self.db.run_in_thread(_key_lines, name)
        return d.addCallback(self._check, given, name)

    def _check(self, lines, given, name):
        for line in lines:
            try:
                key = keys.Key.fromString(line.encode())
            except (keys.BadKeyError, ValueError):
                continue
            if key.blob() != given.blob:
                continue
            if given.signature is None:
                raise conch_error.ValidPublicKey()
            if key.verify(given.signature, given.sigData):
                return name
        raise error.UnauthorizedLogin(f"no such key of {name!r}")


class UploadSession(session.SSHSession):
    """An SFTP session that ends with exit status 0 when the client is done,
    which scp and sftp take as success (a process's session would send it)."""

    def eofReceived(self):
        self.conn.sendRequest(self, b"exit-status", struct.pack(">L", 0))
        self.conn.sendClose(self)


class Uploader(avatar.ConchUser):
    """A logged-in person: an SFTP session and nothing else (no shell, no
    command: a session's other requests fail, as dput's 'chmod' after scp
    does, which it only sends for files not already 0644)."""

    def __init__(self, name, site):
        super().__init__()
        self.name, self.site = name, site
        self.channelLookup[b"session"] = UploadSession
        self.subsystemLookup[b"sftp"] = filetransfer.FileTransferServer


@implementer(portal.IRealm)
class Realm:
    def __init__(self, site):
        self.site = site

    def requestAvatar(self, avatar_id, mind, *interfaces):
        return interfaces[0], Uploader(avatar_id, self.site), lambda: None


def _target_and_name(path):
    """The parts of a path as the client sends it (bytes): the target's parts
    and, for a file, its name last."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", "replace")
    parts = [part for part in path.strip("/").split("/") if part not in ("", ".")]
    if parts[:1] == ["upload"]:
        parts = parts[1:]
    return parts


def _is_target(parts):
    return len(parts) == 1 or (len(parts) == 3 and parts[0].startswith("~"))


def _is_directory(parts):
    """The root, a target, or the '~owner' and '~owner/name' above a PPA's."""
    return not parts or _is_target(parts) or (parts[0].startswith("~") and len(parts) < 3)


def _directory_attrs():
    return {"permissions": stat.S_IFDIR | 0o755, "size": 0, "uid": 0, "gid": 0,
            "atime": 0, "mtime": 0}


@implementer(ISFTPFile)
class PartFile:
    """A file being written: a part file of the queue, within the limits."""

    def __init__(self, site, target, name):
        self.site, self.target, self.name = site, target, name
        settings = site.settings
        room = settings.max_upload_size - site.queue.size_of(target)
        self.limit = min(settings.max_file_size, room)
        self.path = site.queue.part_path(target, name)
        self.handle = open(self.path, "wb")

    def writeChunk(self, offset, data):
        if offset + len(data) > self.limit:
            self._drop()
            raise filetransfer.SFTPError(filetransfer.FX_FAILURE,
                                         f"{self.name}: over the limit of {self.limit} bytes")
        self.handle.seek(offset)
        self.handle.write(data)

    def close(self):
        if self.handle.closed:
            return
        size = self.handle.tell()
        self.handle.close()
        self.site.queue.complete(self.target, self.path, self.name)
        LOG.info(f"upload to {self.target}: {self.name} received over SFTP ({size} bytes)")
        self.site.wake(UPLOADS)

    def _drop(self):
        if not self.handle.closed:
            self.handle.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def readChunk(self, offset, length):
        raise filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED, "write-only")

    def getAttrs(self):
        return {"permissions": stat.S_IFREG | 0o644, "size": self.handle.tell()
                if not self.handle.closed else 0}

    def setAttrs(self, attrs):
        return None


class EmptyListing:
    """A directory listing: the queue shows nobody what others sent."""

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration

    def close(self):
        return None


@implementer(ISFTPServer)
class UploadTree:
    """The SFTP view of the upload targets: write plain files, nothing else."""

    def __init__(self, uploader):
        self.site = uploader.site
        self.avatar = uploader

    def gotVersion(self, other_version, ext_data):
        return {}

    def realPath(self, path):
        return ("/" + "/".join(_target_and_name(path))).encode("utf-8")

    def getAttrs(self, path, follow_links):
        parts = _target_and_name(path)
        if _is_directory(parts):
            return _directory_attrs()
        target, name = "/".join(parts[:-1]), parts[-1]
        if _is_target(parts[:-1]):
            existing = os.path.join(self.site.queue.incoming(target), name)
            if inbox.plain_name(name) and os.path.isfile(existing):
                return {"permissions": stat.S_IFREG | 0o644,
                        "size": os.path.getsize(existing)}
        raise filetransfer.SFTPError(filetransfer.FX_NO_SUCH_FILE, "no such file")

    def setAttrs(self, path, attrs):
        return None

    def openFile(self, filename, flags, attrs):
        parts = _target_and_name(filename)
        if not (flags & filetransfer.FXF_WRITE) or len(parts) < 2 \
                or not _is_target(parts[:-1]):
            raise filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED,
                                         "write files into /<target>/ only")
        try:
            return PartFile(self.site, "/".join(parts[:-1]), parts[-1])
        except inbox.InboxError as refused:
            raise filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED, str(refused))

    def openDirectory(self, path):
        return EmptyListing()

    def _refuse(self, *args):
        raise filetransfer.SFTPError(filetransfer.FX_PERMISSION_DENIED,
                                     "uploads only: files are written, never changed")

    removeFile = renameFile = makeDirectory = removeDirectory = _refuse
    readLink = makeLink = extendedRequest = _refuse


components.registerAdapter(UploadTree, Uploader, ISFTPServer)


class UploadSSHFactory(factory.SSHFactory):
    def __init__(self, site, db, root):
        self.site = site
        key = host_key(root)
        self.publicKeys = {key.sshType(): key.public()}
        self.privateKeys = {key.sshType(): key}
        self.portal = portal.Portal(Realm(site), [PersonKeys(db)])
        self.noisy = False

    def getPrimes(self):
        return None


def make_factory(context):
    """The SSH factory of the SFTP upload server."""
    return UploadSSHFactory(intake.receiver(context), context.db,
                            context.config.builddmaster.root)

