"""What a send request means, the send service, the outbox (accept, deliver, retry, schedule, cancel), pacing of deliveries, the queue's operations and the message view."""
