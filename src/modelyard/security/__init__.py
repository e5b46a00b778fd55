"""Keys for the API and its admin actions: made, stored hashed, and checked."""
