"""Live events: a small publish/subscribe port and the SSE stream built on it."""
