"""The pure domain: identifiers, catalog, SD-JWT, DSSE, policy, Merkle log.

Nothing in this package does I/O: no network, no files, no database, no gRPC.
"""
