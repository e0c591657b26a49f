"""hyperhive: a swarm of AI coding agents in containers, governed by git approvals."""

__version__ = "0.1.0"
