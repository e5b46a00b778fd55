"""modelyard.dashboard"""
