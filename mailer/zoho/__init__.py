"""Zoho's two upstreams: the OAuth accounts server and the Mail API, over one Session."""
