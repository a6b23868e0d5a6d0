"""The composition: every domain's services built and handed their ports, the running gateway, its timed jobs, each mailbox's parts. Above every domain."""
