"""Showing text that came from outside (alert titles, names, ids) without letting it act.

Titles are stored exactly as sent. Whatever shows them to a person - the CLI, an email, the
web UI, an error message - passes them through `safe_text` first: terminal escape sequences,
other control characters and Unicode bidirectional overrides (`U+202E`, which makes
`exe.txt` read as `txt.exe`) are shown as visible `\\x1b` / `\\u202e` escapes instead of being
obeyed, lone surrogates cannot break an encoder, and length is bounded.
"""

from __future__ import annotations

import re

# C0 and C1 controls (ESC starts terminal sequences), DEL, bidi embeddings/overrides/isolates
# and marks, line/paragraph separators, and lone UTF-16 surrogates.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
# What an error message may echo back of a client's input.
ECHO_LIMIT = 120
ELLIPSIS = "…"


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str, limit: int | None = None, *, keep_newlines: bool = False) -> str:
    """`text` with every control, bidi or surrogate character shown as an escape, cut to
    `limit` characters (an ellipsis marks the cut)."""
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_escape, line) for line in text.split("\n"))
    return _UNSAFE.sub(_escape, text)


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A client's value quoted for an error message: `'abc'`, escaped and bounded."""
    return f"'{safe_text(str(value), limit)}'"
