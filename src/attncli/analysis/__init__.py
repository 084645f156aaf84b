"""Analyses built on a Trace: the step-by-step walkthrough, comparing two inputs,
leave-one-out attribution and attention rollout. Pure: they return data, never print."""
