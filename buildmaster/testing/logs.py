"""A logger that prints, as the seeds' FakeLogger did: ``INFO message``."""


class FakeLogger:
    """Prints each record on stdout as 'LEVEL message' (a doctest sees it)."""

    def log(self, level, message, *args, **kwargs):
        print(level, message % args if args else message)

    def debug(self, message, *args, **kwargs):
        self.log("DEBUG", message, *args)

    def info(self, message, *args, **kwargs):
        self.log("INFO", message, *args)

    def warning(self, message, *args, **kwargs):
        self.log("WARNING", message, *args)

    def error(self, message, *args, **kwargs):
        self.log("ERROR", message, *args)

    def exception(self, message, *args, **kwargs):
        self.log("ERROR", message, *args)
