"""Writes of the terminals app: ``setup`` (the back office's register, assign, suspend, revoke,
rotate) and ``gateway`` (what the terminal gateway writes: enrolment, the replay counter,
sessions and raw messages)."""
