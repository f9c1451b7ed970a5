"""The audit log's integrity: the hash chain, its verification, forwarding to syslog, retention.

`hashing` is pure (the canonical form of an entry and its digest); the chain itself is linked as each
entry is inserted (tracker.audit.models), so no code path can write an entry outside it.
"""
