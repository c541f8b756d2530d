from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODE_UNSPECIFIED: _ClassVar[Mode]
    MODE_LIVE: _ClassVar[Mode]
    MODE_DRY_RUN: _ClassVar[Mode]

class RuleCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_CODE_UNSPECIFIED: _ClassVar[RuleCode]
    RULE_CODE_ALLOW: _ClassVar[RuleCode]
    RULE_CODE_DENY: _ClassVar[RuleCode]
    RULE_CODE_NEEDS_REMOTE: _ClassVar[RuleCode]
    RULE_CODE_NOT_RUN: _ClassVar[RuleCode]
    RULE_CODE_ERROR: _ClassVar[RuleCode]

class RuleState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RULE_STATE_UNSPECIFIED: _ClassVar[RuleState]
    RULE_STATE_RUN: _ClassVar[RuleState]
    RULE_STATE_DRY_RUN: _ClassVar[RuleState]
    RULE_STATE_NOT_RUN: _ClassVar[RuleState]
    RULE_STATE_CACHED: _ClassVar[RuleState]

class Conclusion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONCLUSION_UNSPECIFIED: _ClassVar[Conclusion]
    CONCLUSION_ALLOW: _ClassVar[Conclusion]
    CONCLUSION_DENY: _ClassVar[Conclusion]
    CONCLUSION_ERROR: _ClassVar[Conclusion]
MODE_UNSPECIFIED: Mode
MODE_LIVE: Mode
MODE_DRY_RUN: Mode
RULE_CODE_UNSPECIFIED: RuleCode
RULE_CODE_ALLOW: RuleCode
RULE_CODE_DENY: RuleCode
RULE_CODE_NEEDS_REMOTE: RuleCode
RULE_CODE_NOT_RUN: RuleCode
RULE_CODE_ERROR: RuleCode
RULE_STATE_UNSPECIFIED: RuleState
RULE_STATE_RUN: RuleState
RULE_STATE_DRY_RUN: RuleState
RULE_STATE_NOT_RUN: RuleState
RULE_STATE_CACHED: RuleState
CONCLUSION_UNSPECIFIED: Conclusion
CONCLUSION_ALLOW: Conclusion
CONCLUSION_DENY: Conclusion
CONCLUSION_ERROR: Conclusion

class Header(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class RequestDetails(_message.Message):
    __slots__ = ("ip", "method", "host", "path", "query", "headers", "body", "extras")
    class ExtrasEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IP_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    ip: str
    method: str
    host: str
    path: str
    query: str
    headers: _containers.RepeatedCompositeFieldContainer[Header]
    body: bytes
    extras: _containers.ScalarMap[str, str]
    def __init__(self, ip: _Optional[str] = ..., method: _Optional[str] = ..., host: _Optional[str] = ..., path: _Optional[str] = ..., query: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[Header, _Mapping]]] = ..., body: _Optional[bytes] = ..., extras: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BotRule(_message.Message):
    __slots__ = ("allow", "deny")
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    allow: _containers.RepeatedScalarFieldContainer[str]
    deny: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, allow: _Optional[_Iterable[str]] = ..., deny: _Optional[_Iterable[str]] = ...) -> None: ...

class FilterRule(_message.Message):
    __slots__ = ("allow", "deny")
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    DENY_FIELD_NUMBER: _ClassVar[int]
    allow: _containers.RepeatedScalarFieldContainer[str]
    deny: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, allow: _Optional[_Iterable[str]] = ..., deny: _Optional[_Iterable[str]] = ...) -> None: ...

class ShieldRule(_message.Message):
    __slots__ = ("sensitivity", "categories", "disable", "exclude_paths", "exclude_fields", "exclude_headers", "body_limit", "on_body_limit", "threshold", "window_seconds", "block_for_seconds", "header_limit", "on_header_limit", "on_budget_exhausted")
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DISABLE_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_PATHS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ON_BODY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FOR_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HEADER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ON_HEADER_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ON_BUDGET_EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    sensitivity: int
    categories: _containers.RepeatedScalarFieldContainer[str]
    disable: _containers.RepeatedScalarFieldContainer[str]
    exclude_paths: _containers.RepeatedScalarFieldContainer[str]
    exclude_fields: _containers.RepeatedScalarFieldContainer[str]
    exclude_headers: _containers.RepeatedScalarFieldContainer[str]
    body_limit: int
    on_body_limit: str
    threshold: int
    window_seconds: float
    block_for_seconds: float
    header_limit: int
    on_header_limit: str
    on_budget_exhausted: str
    def __init__(self, sensitivity: _Optional[int] = ..., categories: _Optional[_Iterable[str]] = ..., disable: _Optional[_Iterable[str]] = ..., exclude_paths: _Optional[_Iterable[str]] = ..., exclude_fields: _Optional[_Iterable[str]] = ..., exclude_headers: _Optional[_Iterable[str]] = ..., body_limit: _Optional[int] = ..., on_body_limit: _Optional[str] = ..., threshold: _Optional[int] = ..., window_seconds: _Optional[float] = ..., block_for_seconds: _Optional[float] = ..., header_limit: _Optional[int] = ..., on_header_limit: _Optional[str] = ..., on_budget_exhausted: _Optional[str] = ...) -> None: ...

class FixedWindowRule(_message.Message):
    __slots__ = ("window_seconds", "max")
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    max: int
    def __init__(self, window_seconds: _Optional[float] = ..., max: _Optional[int] = ...) -> None: ...

class SlidingWindowRule(_message.Message):
    __slots__ = ("interval_seconds", "max")
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    interval_seconds: float
    max: int
    def __init__(self, interval_seconds: _Optional[float] = ..., max: _Optional[int] = ...) -> None: ...

class TokenBucketRule(_message.Message):
    __slots__ = ("refill_rate", "interval_seconds", "capacity")
    REFILL_RATE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    refill_rate: int
    interval_seconds: float
    capacity: int
    def __init__(self, refill_rate: _Optional[int] = ..., interval_seconds: _Optional[float] = ..., capacity: _Optional[int] = ...) -> None: ...

class EmailRule(_message.Message):
    __slots__ = ("deny", "allow", "require_tld", "allow_quoted_local", "allow_domain_literal")
    DENY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_TLD_FIELD_NUMBER: _ClassVar[int]
    ALLOW_QUOTED_LOCAL_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DOMAIN_LITERAL_FIELD_NUMBER: _ClassVar[int]
    deny: _containers.RepeatedScalarFieldContainer[str]
    allow: _containers.RepeatedScalarFieldContainer[str]
    require_tld: bool
    allow_quoted_local: bool
    allow_domain_literal: bool
    def __init__(self, deny: _Optional[_Iterable[str]] = ..., allow: _Optional[_Iterable[str]] = ..., require_tld: _Optional[bool] = ..., allow_quoted_local: _Optional[bool] = ..., allow_domain_literal: _Optional[bool] = ...) -> None: ...

class Rule(_message.Message):
    __slots__ = ("mode", "characteristics", "match", "bot", "filter", "shield", "fixed_window", "sliding_window", "token_bucket", "email")
    MODE_FIELD_NUMBER: _ClassVar[int]
    CHARACTERISTICS_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    BOT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SHIELD_FIELD_NUMBER: _ClassVar[int]
    FIXED_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SLIDING_WINDOW_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BUCKET_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    mode: Mode
    characteristics: _containers.RepeatedScalarFieldContainer[str]
    match: str
    bot: BotRule
    filter: FilterRule
    shield: ShieldRule
    fixed_window: FixedWindowRule
    sliding_window: SlidingWindowRule
    token_bucket: TokenBucketRule
    email: EmailRule
    def __init__(self, mode: _Optional[_Union[Mode, str]] = ..., characteristics: _Optional[_Iterable[str]] = ..., match: _Optional[str] = ..., bot: _Optional[_Union[BotRule, _Mapping]] = ..., filter: _Optional[_Union[FilterRule, _Mapping]] = ..., shield: _Optional[_Union[ShieldRule, _Mapping]] = ..., fixed_window: _Optional[_Union[FixedWindowRule, _Mapping]] = ..., sliding_window: _Optional[_Union[SlidingWindowRule, _Mapping]] = ..., token_bucket: _Optional[_Union[TokenBucketRule, _Mapping]] = ..., email: _Optional[_Union[EmailRule, _Mapping]] = ...) -> None: ...

class RuleSet(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ...) -> None: ...

class BotReason(_message.Message):
    __slots__ = ("bot", "categories", "denied")
    BOT_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DENIED_FIELD_NUMBER: _ClassVar[int]
    bot: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    denied: bool
    def __init__(self, bot: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., denied: _Optional[bool] = ...) -> None: ...

class FilterReason(_message.Message):
    __slots__ = ("matched", "index", "list")
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    matched: str
    index: int
    list: str
    def __init__(self, matched: _Optional[str] = ..., index: _Optional[int] = ..., list: _Optional[str] = ...) -> None: ...

class ShieldReason(_message.Message):
    __slots__ = ("suspicious", "category", "location", "excerpt", "escalated")
    SUSPICIOUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    EXCERPT_FIELD_NUMBER: _ClassVar[int]
    ESCALATED_FIELD_NUMBER: _ClassVar[int]
    suspicious: bool
    category: str
    location: str
    excerpt: str
    escalated: bool
    def __init__(self, suspicious: _Optional[bool] = ..., category: _Optional[str] = ..., location: _Optional[str] = ..., excerpt: _Optional[str] = ..., escalated: _Optional[bool] = ...) -> None: ...

class RateLimitReason(_message.Message):
    __slots__ = ("max", "remaining", "reset_seconds", "window_seconds")
    MAX_FIELD_NUMBER: _ClassVar[int]
    REMAINING_FIELD_NUMBER: _ClassVar[int]
    RESET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max: int
    remaining: int
    reset_seconds: float
    window_seconds: float
    def __init__(self, max: _Optional[int] = ..., remaining: _Optional[int] = ..., reset_seconds: _Optional[float] = ..., window_seconds: _Optional[float] = ...) -> None: ...

class ErrorReason(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class RuleResult(_message.Message):
    __slots__ = ("code", "reason_json", "ttl", "kind", "mode", "state", "bot", "filter", "shield", "rate_limit", "error")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_JSON_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BOT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SHIELD_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    code: RuleCode
    reason_json: str
    ttl: float
    kind: str
    mode: Mode
    state: RuleState
    bot: BotReason
    filter: FilterReason
    shield: ShieldReason
    rate_limit: RateLimitReason
    error: ErrorReason
    def __init__(self, code: _Optional[_Union[RuleCode, str]] = ..., reason_json: _Optional[str] = ..., ttl: _Optional[float] = ..., kind: _Optional[str] = ..., mode: _Optional[_Union[Mode, str]] = ..., state: _Optional[_Union[RuleState, str]] = ..., bot: _Optional[_Union[BotReason, _Mapping]] = ..., filter: _Optional[_Union[FilterReason, _Mapping]] = ..., shield: _Optional[_Union[ShieldReason, _Mapping]] = ..., rate_limit: _Optional[_Union[RateLimitReason, _Mapping]] = ..., error: _Optional[_Union[ErrorReason, _Mapping]] = ...) -> None: ...

class LocalResult(_message.Message):
    __slots__ = ("code", "reason_json")
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_JSON_FIELD_NUMBER: _ClassVar[int]
    code: RuleCode
    reason_json: str
    def __init__(self, code: _Optional[_Union[RuleCode, str]] = ..., reason_json: _Optional[str] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ("details", "rules", "requested", "local_results", "typed_reasons")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_FIELD_NUMBER: _ClassVar[int]
    LOCAL_RESULTS_FIELD_NUMBER: _ClassVar[int]
    TYPED_REASONS_FIELD_NUMBER: _ClassVar[int]
    details: RequestDetails
    rules: RuleSet
    requested: int
    local_results: _containers.RepeatedCompositeFieldContainer[LocalResult]
    typed_reasons: bool
    def __init__(self, details: _Optional[_Union[RequestDetails, _Mapping]] = ..., rules: _Optional[_Union[RuleSet, _Mapping]] = ..., requested: _Optional[int] = ..., local_results: _Optional[_Iterable[_Union[LocalResult, _Mapping]]] = ..., typed_reasons: _Optional[bool] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ("id", "conclusion", "reason_json", "results", "ttl")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONCLUSION_FIELD_NUMBER: _ClassVar[int]
    REASON_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    id: str
    conclusion: Conclusion
    reason_json: str
    results: _containers.RepeatedCompositeFieldContainer[RuleResult]
    ttl: float
    def __init__(self, id: _Optional[str] = ..., conclusion: _Optional[_Union[Conclusion, str]] = ..., reason_json: _Optional[str] = ..., results: _Optional[_Iterable[_Union[RuleResult, _Mapping]]] = ..., ttl: _Optional[float] = ...) -> None: ...

class ReportedDecision(_message.Message):
    __slots__ = ("details", "rule_set", "results", "timestamp", "id")
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    RULE_SET_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    details: RequestDetails
    rule_set: int
    results: _containers.RepeatedCompositeFieldContainer[RuleResult]
    timestamp: float
    id: str
    def __init__(self, details: _Optional[_Union[RequestDetails, _Mapping]] = ..., rule_set: _Optional[int] = ..., results: _Optional[_Iterable[_Union[RuleResult, _Mapping]]] = ..., timestamp: _Optional[float] = ..., id: _Optional[str] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("rule_sets", "decisions")
    RULE_SETS_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    rule_sets: _containers.RepeatedCompositeFieldContainer[RuleSet]
    decisions: _containers.RepeatedCompositeFieldContainer[ReportedDecision]
    def __init__(self, rule_sets: _Optional[_Iterable[_Union[RuleSet, _Mapping]]] = ..., decisions: _Optional[_Iterable[_Union[ReportedDecision, _Mapping]]] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("accepted",)
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    def __init__(self, accepted: _Optional[int] = ...) -> None: ...
