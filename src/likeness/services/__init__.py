"""The domain's rules applied to stored rows, each in the caller's transaction: an outcome
written with its events (record), a character's template and references (references), an
event in the outbox (outbox), what a character is verified against (verification), and
erasure.

See docs/architecture.md for what each package may import.
"""
