# The Yellow Button's exports and shares arrive with their issues.
