"""The sandbox's API server: the Kubernetes REST API over the store."""
