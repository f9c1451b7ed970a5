"""Use cases. Each takes a Session, flushes, never commits: the caller owns the transaction."""
