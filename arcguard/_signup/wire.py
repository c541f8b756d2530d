"""Wire forms (``decide.proto``) of the sign-up rules; used by ``_transport._wire``."""

from __future__ import annotations

from typing import Any

from .._proto import decide_pb2 as pb
from .rules import EmailRule

__all__ = ["email_config_from_proto", "email_rule_to_proto"]


def email_rule_to_proto(rule: EmailRule) -> pb.EmailRule:
    """The wire form of an email rule."""
    return pb.EmailRule(
        deny=rule.deny,
        allow=rule.allow,
        require_tld=rule.require_tld,
        allow_quoted_local=rule.allow_quoted_local,
        allow_domain_literal=rule.allow_domain_literal,
    )


def email_config_from_proto(msg: pb.EmailRule) -> dict[str, Any]:
    """The options (for ``validate_email``) of a wire email rule."""
    c: dict[str, Any] = {
        "require_tld": msg.require_tld if msg.HasField("require_tld") else True,
        "allow_quoted_local": msg.allow_quoted_local,
        "allow_domain_literal": msg.allow_domain_literal,
    }
    if msg.deny:
        c["deny"] = list(msg.deny)
    if msg.allow:
        c["allow"] = list(msg.allow)
    return c
