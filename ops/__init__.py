"""One-time steps after deployment (consent, webhook registration); run by an operator, not deployed."""
