"""Training: the recipe, the loop around `fit`, callbacks, resume, schedules and devices."""
