"""Podscope's websockets: one module per kind of socket, on a base every socket shares.

- `base`: the consumer every socket derives from (admission, frames, clean-up once) and its frame helpers.
- `registry`: the open sockets of an event loop, with each person's limits, revocation and shutdown.
- `codes`: every close code a socket ends with, and the refusal that carries one.
- `live`: the pod list and one pod's page, re-rendered on every change of the namespace's watch.
- `logs`: log views, followed through LogHub.
- `terminals`: exec, a command in a container through an ExecSession, audited.
"""
