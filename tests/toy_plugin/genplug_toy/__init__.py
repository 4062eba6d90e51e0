"""genplug-toy: a test plugin with one tiny architecture, ``toy-gaussian``."""
