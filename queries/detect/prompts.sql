-- prompts: the flows (flows.sql) in which the user had to act: typed a password, answered or denied MFA,
-- was interrupted or refused. What reports count as "prompts" and what reauth loops are made of.
-- @view

select * exclude (needs_user)
from flows
where needs_user
