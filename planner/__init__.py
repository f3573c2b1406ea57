"""The backward production planner: slicing, selection rules, plan building (issues 3, 4)."""
