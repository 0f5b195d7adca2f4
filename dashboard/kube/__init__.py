"""The only door to Kubernetes: nothing outside this package imports `kubernetes`."""
