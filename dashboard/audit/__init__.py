"""The audit trail of interactive access to pods: terminals and requests to pods' ports.

- `rows`: the one writer of its rows (`Attempt`), used by the terminal socket and the port proxy alike.
- `pages`: the staff pages that list the rows and replay recorded terminals.
"""
