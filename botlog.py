"""The bot's log sink: standard output (platforms show stderr as errors), text or one JSON object per line.

The `whatsapp` library installs no sink of its own; this is the program's choice, and `diagnose=False`
keeps local variables (keys) out of tracebacks. `LOG_FORMAT=json` suits log platforms that parse lines:
each is `{"time", "level", "message", "module", "line", ...extra fields}`, with the exception text under
"exception" when there is one.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

if TYPE_CHECKING:
    from loguru import Message

TEXT_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {name}:{line} - {message}"
LOG_FORMATS = ("text", "json")


def json_line(message: Message) -> str:
    record = message.record
    entry: dict[str, Any] = {
        "time": record["time"].isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "message": record["message"],
        "module": record["name"],
        "line": record["line"],
    }
    entry.update({key: value for key, value in record["extra"].items() if key not in entry})
    if record["exception"] is not None:
        entry["exception"] = "".join(_exception_text(record["exception"]))
    return json.dumps(entry, ensure_ascii=False, default=str)


def _exception_text(exception: Any) -> list[str]:
    import traceback  # only on the rare line that carries one

    return traceback.format_exception(exception.type, exception.value, exception.traceback, limit=20)


def configure_logging(level: str, fmt: str = "text", stream: TextIO | None = None) -> None:
    """One sink: `stream` (standard output by default) at `level`, as text or JSON lines."""
    out = stream if stream is not None else sys.stdout
    logger.remove()
    if fmt == "json":

        def write(message: Message) -> None:
            out.write(json_line(message) + "\n")
            out.flush()

        logger.add(write, level=level, backtrace=False, diagnose=False)
        return
    logger.add(out, level=level, format=TEXT_FORMAT, backtrace=False, diagnose=False)
