"""Shared runtime for every movierec tier: config, logging, errors, metrics, gRPC server and client."""
