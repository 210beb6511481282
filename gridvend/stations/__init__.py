"""Offline vending stations and store-and-forward up the tree (DESIGN §10, docs/stations.md).

One app serves both ends. On the master (and on a business-unit relay) it keeps the registered
stations, the signed credit allowances issued to them, the journal entries they uploaded and the
conflicts found when applying them. On a station it keeps the station's identity (its sealed
Ed25519 key, the master's public key), the allowances it received and its own hash-chained,
signed journal of what it did while it could not reach the master.
"""
