"""modelyard.serving"""
