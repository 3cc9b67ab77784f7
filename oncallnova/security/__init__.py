"""Who may do what: accounts, tokens, the rule table, rate limits, audit. See docs/security.md."""
