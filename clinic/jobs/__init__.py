"""Background work: the outbox of side effects (outbox, effects, dispatch) and the worker that runs it."""
