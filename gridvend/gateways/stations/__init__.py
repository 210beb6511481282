"""The master's (and a relay's) HTTP API for offline stations, under ``/station-api/v1/``:
signed requests in, signed JSON answers out (``gridvend.stations.protocol``; docs/stations.md)."""
