"""Students join a lesson from their own browser: the page's routes and static files."""
