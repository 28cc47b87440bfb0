"""Chirp: a Twitter-like GraphQL backend."""
