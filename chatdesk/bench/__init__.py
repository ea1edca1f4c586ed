"""`chatdesk bench`: pipeline.py (raw llama.cpp against the app, one run), driver.py (the two
loops), measures.py (prompt evaluation, cache, stop, API), remote.py (a server's model)."""
