"""`sandbox bench ...`: each capability measured side by side with what a user would pick instead."""
