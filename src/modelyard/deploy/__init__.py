"""modelyard.deploy"""
