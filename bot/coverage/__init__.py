"""Coverage questions answered from the mapping facts and the team's inventory."""
