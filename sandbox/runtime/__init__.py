"""The node agent: runs pods as isolated Linux processes and serves their logs, exec and port-forward."""
