"""Governance: erasure at the end of retention, subject access, audit trails, integrity."""
