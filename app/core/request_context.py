"""Per-request context (request id) shared by logging and error rendering."""

from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
