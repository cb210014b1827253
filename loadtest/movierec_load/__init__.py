"""movierec's load generator: bounded grpc.aio + httpx load against tiers on this machine (``make load``)."""
