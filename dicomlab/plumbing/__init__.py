"""Shared I/O plumbing for the adapters: translating HTTP failures, writing files safely."""
