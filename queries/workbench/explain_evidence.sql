-- explain_evidence: the lake rows behind a loop: every row of its user carrying one of its sign_in_ids
-- (an id can have several rows: one MFA request logs its challenge and its success), oldest first.

with the_loop as (
    select loops.user_key, flagged_sessions.sign_in_ids
    from loops
    join flagged_sessions using (loop_id)
    where loop_id = $loop_id
)

select
    strftime(s.created_at, '%Y-%m-%dT%H:%M:%S.%gZ') as created_at,
    s.sign_in_id,
    s.log_category,
    s.is_interactive,
    s.error_code,
    s.outcome,
    s.app_display_name,
    s.client_app_used,
    s.device_os,
    s.device_id,
    s.ip_address,
    s.auth_methods,
    s.correlation_id,
    s.user_agent
from sign_ins as s
join the_loop on coalesce(s.user_id, s.user_principal_name) = the_loop.user_key
where list_contains(the_loop.sign_in_ids, s.sign_in_id)
    and s.principal_kind = 'user'
order by s.created_at, s.is_interactive desc, s.sign_in_id, s.error_code
