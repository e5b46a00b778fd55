"""modelyard.streaming"""
