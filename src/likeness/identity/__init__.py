"""The domain: a character's face identity. Which face and status an image gives
(decisions), the settings that steer it (policy), why an extraction failed (failures), what
is announced (events), the template of several references (template), how a result is
written with its events in one transaction (record), and erasure.

See docs/architecture.md for what each package may import.
"""
