"""Process management: how ``serve``, its API workers and its loader processes start and stop.

One place for what every long-running process of supplylake needs: a supervisor that starts
children and restarts those that die (:mod:`.supervisor`), children that stop when their parent
dies (:mod:`.parent`), signal handlers that only note the signal (:mod:`.signals`), uvicorn run
from the settings (:mod:`.asgi`), the loader's metrics shared through a file
(:mod:`.metrics_file`) and a garbage collector tuned for a process of long-lived objects
(:mod:`.garbage`).
"""
