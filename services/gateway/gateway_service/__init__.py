"""The gateway tier of movierec: REST API, web UI and composition of the gRPC tiers."""
