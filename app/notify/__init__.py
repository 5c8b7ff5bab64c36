"""WeChat subscribe messages about cases: consents reported by the client,
messages written to the outbox by report events, and their delivery."""
