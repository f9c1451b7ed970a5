"""People: departments, users and roles, who may reach which ticket, passwords, sessions, second factor, SSO."""
