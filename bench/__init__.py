"""`make bench`: the speed and memory budgets of CONTRACT.md, each against its floor in the same run."""
