"""The working-day calendar: the pure calendar (days), the State Council notice parser, the stored years."""
