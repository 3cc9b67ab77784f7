"""On-call edge: users, teams, schedules, escalation policies over REST and gRPC."""
