"""RQ jobs and the worker processes. Imports moderation's data layer and models' loading code."""
