"""A local HTTPS stand-in for Partner Center, Microsoft Graph and Entra ID (not deployed)."""
