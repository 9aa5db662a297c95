"""The walk-in video queue: joining, one's place and wait, staff taking the next caller, and the rules
for callers who do not answer or are still waiting at closing time. Plain services, as in scheduling."""
