"""Pure paging logic: escalation steps, notification plans, action tokens, webhook signing and
SSRF checks. No I/O except name resolution in `ssrf.resolve_checked`."""
