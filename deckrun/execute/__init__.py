"""Cells -> results: from the cache or run in the deck's kernel (execution), the kernel and
its connection, here or on a gateway (kernel, remote), kernel messages made safe
(capture), the results' types (outputs), the cache, and the kernel's packages
(environment)."""
