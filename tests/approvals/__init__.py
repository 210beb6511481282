"""Tests of the two-person decision mechanism."""
