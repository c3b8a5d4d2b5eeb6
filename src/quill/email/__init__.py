"""Outgoing email: a small port with an outbox and an SMTP implementation."""
