"""Stream workers: the outbox relay and the consumers of the event stream.

``chirp serve`` runs them in-process in embedded mode (Ladybug is
single-process); in production ``chirp worker`` runs them as separate
processes, any number of which share each consumer group.
"""
