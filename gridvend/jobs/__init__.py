"""Background jobs and the outbox: a small façade over django-q2 (``gridvend.jobs.queue``) and
outbound messages written in the business transaction, delivered by jobs (``gridvend.jobs.outbox``).

This app imports no domain app; every domain app may use it.
"""
