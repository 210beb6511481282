"""SMS and e-mail to customers and staff: rendered from templates in the reader's language,
queued as outbox rows in the business transaction, delivered after commit by the worker
through the backend the settings choose (console, file, Africa's Talking, SMTP).

Public API: ``gridvend.notifications.services.queue_sms`` and ``queue_email``.
"""
