"""Evaluation metrics: one small module each, with cached real-data statistics and exact protocols."""
