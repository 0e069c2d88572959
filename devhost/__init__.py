"""Runs the product locally without Azure Functions Core Tools (not deployed)."""
