"""Events: creating and publishing them, registration with capacity and a waitlist, notices through the outbox, and
check-in at the door with the alumni card or the event's QR."""
