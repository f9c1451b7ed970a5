"""Workflow: opening tickets and acting on them. `transitions` changes a ticket's state and writes its history;
`doors` is the one door per staff action (reach, role, transition, approvals) that every page, bulk action,
channel and task calls; `routing` picks a new ticket's department by the administrators' rules."""
