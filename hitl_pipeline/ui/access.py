"""Who may reach the form, decided before anything heavy is imported: the single-user reviewer
name, loopback addresses, and the refusal of a public bind without authentication.

Kept free of gradio so that ``hitl run`` can check its options (and refuse a bad one) while gradio
is still being imported in the background.
"""

from __future__ import annotations

import getpass
import ipaddress

from hitl_pipeline.errors import ConfigError


def default_reviewer_name() -> str:
    """The OS user name: the reviewer identity when serving without auth on loopback."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still usable, and clearly named
        return "local-reviewer"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, *, authenticated: bool) -> None:
    """Refuse a non-loopback address without authentication (ConfigError saying how to fix it)."""
    if not is_loopback(host) and not authenticated:
        raise ConfigError(
            f"refusing to serve on {host} without authentication: anyone on the network could write scores. "
            "Add reviewer accounts (hitl reviewers add NAME) or use --auth-header behind a trusted proxy, "
            "or bind to 127.0.0.1."
        )
