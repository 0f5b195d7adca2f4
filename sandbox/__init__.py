"""The Podscope sandbox: a local cluster that speaks the Kubernetes API. It imports nothing from dashboard/."""
