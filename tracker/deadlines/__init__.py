"""Deadlines: the policies with their legal bases, the working-day engine, the per-ticket deadline rows."""
