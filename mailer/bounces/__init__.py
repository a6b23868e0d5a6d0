"""Bounces read back from a mailbox: what they report, and what the gateway does with it."""
