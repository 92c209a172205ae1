"""The ML models: training (train), data (datasets), loading and scoring (scoring)."""
