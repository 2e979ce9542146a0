"""How a run stops: its own failures (one line each), termination signals turned into a clean stop at a safe point,
and the threads of its own, which leave those signals to the main thread."""
