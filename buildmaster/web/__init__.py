"""The farm on the web: pages, a JSON API, metrics and health.

One twisted.web Site on ``[web] host:port``, served by the daemon:

* ``resources`` — the resource tree, threads, ETags, errors;
* ``http`` — a request as the handlers see it (Asked) and their Answer;
* ``views`` — the database reads behind every page and endpoint, as
  plain dicts with the CLI's ``--json`` names (run in a thread);
* ``reasons`` — why each job waits, shared with ``buildmaster queue``;
* ``pages`` — the HTML pages (Jinja2 templates in ``templates/``);
* ``api`` — ``/api/1.0/``: the same views as JSON, and the POST actions;
* ``actions`` — retry, rescore, cancel, enable, disable;
* ``auth`` — bearer tokens;
* ``metrics`` — ``/metrics`` (Prometheus) and ``/healthz``.
"""
