"""What may be stored: salted hashes instead of paths, and secrets redacted from opted-in text.

By default no code and no path reaches the database. A user who opts in to
code capture gets suggestion text with common secret formats replaced by
`[REDACTED]`; the patterns err on the side of redacting too much.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_SECRET_PATTERNS = [
    # Authorization headers first: the assignment rule below would stop at the scheme's name.
    re.compile(r"(?i)\b(?:Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{16,}"),
    # key = "value" assignments whose name says secret
    re.compile(
        r"""(?ix)
        \b([\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth)[\w.-]*)
        (\s*[:=]\s*|\s*=>\s*)
        ("[^"\n]*"|'[^'\n]*'|[^\s,;'"]+)
        """
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"),  # Slack
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"),  # OpenAI-style keys
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API key
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),  # JWT
    re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@"),  # credentials in URLs
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),  # Hugging Face
    re.compile(r"\bnpm_[A-Za-z0-9]{30,}\b"),  # npm
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"),  # GitLab personal access token
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}\b"),  # Stripe
    re.compile(r"\bpypi-[A-Za-z0-9_-]{40,}\b"),  # PyPI upload token
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"),  # Google OAuth access token
    re.compile(r"\bxapp-[A-Za-z0-9-]{10,}\b"),  # Slack app token
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
]

REDACTED = "[REDACTED]"


def redact_secrets(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 3:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def hash_path(path: str, salt: bytes) -> str:
    """A stable pseudonym for a file: equal paths match, but the path cannot be read back."""
    return hmac.new(salt, path.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
