"""How Kubernetes writes things as text, shared by the dashboard and the sandbox.

kubectl's ages and durations (`durations`), its STATUS, READY and RESTARTS columns of a pod (`pods`), and label
selectors as apimachinery parses and matches them (`selectors`). Both programs import this package; it imports
neither of them, nor anything outside the standard library.
"""
