"""modelyard.db"""
