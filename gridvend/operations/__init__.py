"""Running gridvend for real (issue 19): encrypted backups and verified restores."""
