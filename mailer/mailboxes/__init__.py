"""Each connected Zoho mailbox: tokens and their one renewal path, the renewal sweep, consent and connect links, the mailbox admin, API keys."""
