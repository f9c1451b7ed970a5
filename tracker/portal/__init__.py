"""The citizen's side of the portal that is not intake: attachments with an application, the public list
of messages (留言选登), recovering a lost 查询码. The rating (好差评) is a workflow door
(tracker.workflow.transitions.rate_from_portal). The web's portal views call these; no Flask here."""
