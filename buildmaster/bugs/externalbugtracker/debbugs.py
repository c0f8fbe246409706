"""Debian's debbugs, read through its SOAP interface.

``POST <base>/cgi-bin/soap.cgi`` with a ``get_status`` call naming the
bugs answers a map from bug number to the bug's fields; a bug that does
not exist is left out of it.  A bug's remote status is its ``pending``
field ("pending", "forwarded", "pending-fixed", "fixed" or "done"),
its severity, then its tags: "done normal", "pending important patch".
"""

import xml.etree.ElementTree as ElementTree
from xml.sax.saxutils import escape

from buildmaster.bugs.externalbugtracker.base import (
    ExternalBugTracker, UnparsableBugTrackerAnswer, words)
from buildmaster.model.bugtracker import BugStatus

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="{env}"
    xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<soap:Body><get_status xmlns="Debbugs/SOAP">
<bugs xsi:type="soapenc:Array" soapenc:arrayType="xsd:int[{count}]">{items}</bugs>
</get_status></soap:Body></soap:Envelope>
"""


class Debbugs(ExternalBugTracker):
    batch_size = 100
    STATUSES = {
        "pending": BugStatus.NEW,
        "forwarded": BugStatus.CONFIRMED,
        "pending-fixed": BugStatus.FIXCOMMITTED,
        "fixed": BugStatus.FIXCOMMITTED,
        "done": BugStatus.FIXRELEASED,
    }
    URL_PATTERNS = (
        r"^(?P<base>https?://.+?)/cgi-bin/bugreport\.cgi\?bug=(?P<bug>\d+)$",
        r"^(?P<base>https?://[^/]+)/(?P<bug>\d+)/?$",
    )

    @classmethod
    def bugURL(cls, baseurl, remotebug):
        return f"{baseurl.rstrip('/')}/cgi-bin/bugreport.cgi?bug={remotebug}"

    @classmethod
    def convertRemoteStatus(cls, remotestatus):
        words = (remotestatus or "").split()
        if "wontfix" in words[2:]:
            return BugStatus.WONTFIX
        return super().convertRemoteStatus(words[0] if words else None)

    def getRemoteStatuses(self, remote_ids):
        items = "".join(f'<item xsi:type="xsd:int">{escape(bug)}</item>'
                        for bug in remote_ids)
        body = REQUEST.format(env=SOAP_ENV, count=len(remote_ids), items=items)
        data = self._fetch(f"{self.baseurl.rstrip('/')}/cgi-bin/soap.cgi",
                           data=body.encode("utf-8"),
                           headers={"Content-Type": "text/xml; charset=utf-8",
                                    "SOAPAction": '"Debbugs/SOAP"'})
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as error:
            raise UnparsableBugTrackerAnswer(self.baseurl, f"not XML: {error}") from None
        fault = _first(root, "Fault")
        if fault is not None:
            raise UnparsableBugTrackerAnswer(
                self.baseurl, f"SOAP fault: {_text(_first(fault, 'faultstring'))}")
        response = _first(root, "get_statusResponse")
        if response is None:
            raise UnparsableBugTrackerAnswer(self.baseurl, "no get_statusResponse")
        statuses = {}
        for item in response.iter():
            if _local(item.tag) != "item" or _first(item, "key", deep=False) is None:
                continue
            value = _first(item, "value", deep=False)
            fields = {_local(field.tag): _text(field)
                      for field in (value if value is not None else ())}
            bug = _text(_first(item, "key", deep=False))
            statuses[bug] = words(fields.get("pending"), fields.get("severity"),
                                  *fields.get("tags", "").split())
        return statuses


def _local(tag):
    return tag.rpartition("}")[2]


def _first(element, name, deep=True):
    for child in (element.iter() if deep else element):
        if _local(child.tag) == name:
            return child
    return None


def _text(element):
    return (element.text or "").strip() if element is not None else ""
