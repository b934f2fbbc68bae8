"""What a browser sends to the review app: URL-encoded forms under a size cap, and its address.

Forms are parsed here (URL-encoded only), so no multipart dependency is needed.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import HTTPException, Request

MAX_NOTE_CHARS = 4_000
# A form's body must admit the longest note at its worst: four UTF-8 bytes a character, each sent
# as "%XX", beside the other fields.
MAX_FORM_BYTES = MAX_NOTE_CHARS * 4 * 3 + 4_096


def client_of(request: Request) -> str:
    """The client's address as the server sees it (a trusted proxy's X-Forwarded-For included)."""
    return request.client.host if request.client else "unknown"


async def form_fields(request: Request) -> dict[str, str]:
    """Dependency: a URL-encoded form body as a dict (first value of each field), size-limited.

    A body announced larger than MAX_FORM_BYTES is refused from its header, before any of it is
    read; one sent without a length (chunked) is refused as soon as what was read passes the limit.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "Forms are sent URL-encoded.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "The form is too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "The form could not be read.") from None
    return {key: values[0] for key, values in parsed.items()}
