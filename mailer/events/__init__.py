"""Webhooks: events stored with their cause, signed, delivered and retried; which destinations are allowed."""
