"""What a bot's history says: metrics, breakdowns and (later) patterns and reports, from
its memory."""
