"""The domain, the ground floor: what a character's face identity is and the rules on it.
The statuses (status), what detection finds (faces), the image errors (errors), which face
and status an image gives (decisions), the settings that steer it (policy), why an
extraction failed (failures), what is announced (events), the template of several
references (template), how a similarity reads (verdicts), a face's problems in words
(face_problems) and which characters a backfill takes (backfill_scope).

It imports nothing of likeness: every other package stands on it. See docs/architecture.md.
"""
