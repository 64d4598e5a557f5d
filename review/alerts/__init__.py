"""Alerts: findings and final labels at or above a rule's severity, sent at once to a signed
webhook or by e-mail, exactly once per rule and item however often tasks run again."""
