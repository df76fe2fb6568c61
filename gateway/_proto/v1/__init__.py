"""Generated gRPC stubs for gateway.v1; regenerate with scripts/gen_protos.py."""
