"""Handheld field terminals: enrolment, assignment to an agent, keys, and their raw messages."""
