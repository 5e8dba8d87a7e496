-- explain_loop: one flagged session with the counts its kind and severity were decided on (detect/loops
-- keeps them in `loops`; the output contract leaves them out), for `reauth-loops explain`.
-- @param loop_id VARCHAR =  : the loop to explain, as detect prints it (loop-<16 hex>)

select
    f.*,
    l.success_prompts,
    l.denied_prompts,
    l.failed_prompts,
    strftime(l.last_success_at, '%Y-%m-%dT%H:%M:%S.%gZ') as last_success_at,
    strftime(l.first_denial_at, '%Y-%m-%dT%H:%M:%S.%gZ') as first_denial_at,
    round(l.max_reprompt_seconds, 1) as max_reprompt_seconds,
    l.severity as severity_before_cluster
from flagged_sessions as f
join loops as l using (loop_id)
where f.loop_id = $loop_id
