"""The frame loop and what it needs: flow chains, the key schedule, cuts, confidence."""
