"""The rules of likeness, apart from how runs are scheduled: which face and status an image
gives (decisions), the settings that steer it (policy), what is announced (events), how a
result is written with its events in one transaction (record), and erasure.

See docs/architecture.md for what each package may import.
"""
