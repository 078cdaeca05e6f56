"""Hostile-input campaigns against a real configd (see hostile.py, hostile_campaign.py)."""
